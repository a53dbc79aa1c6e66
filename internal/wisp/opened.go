package wisp

import (
	"encoding/binary"
	"net/netip"
)

// Opened is the payload of TypeOpened: the address the relay dialed and the
// relay's local address for that connection.
//
//	+-----+-----------+---------+-----+-----------+---------+
//	| len | remote IP | port LE | len | local IP  | port LE |
//	| u8  | 4 or 16   | u16     | u8  | 4 or 16   | u16     |
//	+-----+-----------+---------+-----+-----------+---------+
type Opened struct{ Remote, Local netip.AddrPort }

// AppendAddrPort encodes one endpoint: length, address bytes, port.
func AppendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	dst = append(dst, byte(a.BitLen()/8))
	dst = append(dst, a.AsSlice()...)
	return binary.LittleEndian.AppendUint16(dst, ap.Port())
}

// ParseAddrPort decodes one endpoint and returns the remaining bytes.
func ParseAddrPort(b []byte) (netip.AddrPort, []byte, error) {
	if len(b) < 1 {
		return netip.AddrPort{}, nil, malformed("missing endpoint")
	}
	n := int(b[0])
	if n != 4 && n != 16 && n != 0 {
		return netip.AddrPort{}, nil, malformed("endpoint address of %d bytes", n)
	}
	if len(b) < 1+n+2 {
		return netip.AddrPort{}, nil, malformed("truncated endpoint")
	}
	var a netip.Addr
	if n > 0 {
		a, _ = netip.AddrFromSlice(b[1 : 1+n])
	}
	port := binary.LittleEndian.Uint16(b[1+n:])
	return netip.AddrPortFrom(a, port), b[1+n+2:], nil
}

// AppendOpened encodes an OPENED packet.
func AppendOpened(dst []byte, id uint32, o Opened) []byte {
	dst = appendHeader(dst, TypeOpened, id)
	dst = AppendAddrPort(dst, o.Remote)
	return AppendAddrPort(dst, o.Local)
}

// ParseOpened decodes an OPENED payload.
func ParseOpened(b []byte) (Opened, error) {
	r, rest, err := ParseAddrPort(b)
	if err != nil {
		return Opened{}, err
	}
	l, rest, err := ParseAddrPort(rest)
	if err != nil {
		return Opened{}, err
	}
	if len(rest) != 0 {
		return Opened{}, malformed("%d trailing bytes after OPENED", len(rest))
	}
	return Opened{Remote: r, Local: l}, nil
}
