package wisp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"unicode/utf8"
)

// BindFlags are the flags of TypeBind.
type BindFlags uint8

// BindReuseAddress sets SO_REUSEADDR before binding, so several sockets
// can bind one multicast port (WinRT's MulticastOnly).
const BindReuseAddress BindFlags = 1 << 0

// Bind is the payload of TypeBind.
//
//	+-------+-----+-----------+---------+
//	| flags | len | local IP  | port LE |
//	| u8    | u8  | 0, 4, 16  | u16     |
//	+-------+-----+-----------+---------+
//
// An address length of 0 binds every interface of the relay's choice of
// family; port 0 binds any free port.
type Bind struct {
	Flags BindFlags
	Local netip.AddrPort
}

// AppendBind encodes a BIND packet.
func AppendBind(dst []byte, id uint32, b Bind) []byte {
	dst = appendHeader(dst, TypeBind, id)
	dst = append(dst, byte(b.Flags))
	return AppendAddrPort(dst, b.Local)
}

// ParseBind decodes a BIND payload.
func ParseBind(b []byte) (Bind, error) {
	if len(b) < 1 {
		return Bind{}, malformed("empty BIND")
	}
	ap, rest, err := ParseAddrPort(b[1:])
	if err != nil {
		return Bind{}, err
	}
	if len(rest) != 0 {
		return Bind{}, malformed("%d trailing bytes after BIND", len(rest))
	}
	return Bind{Flags: BindFlags(b[0]), Local: ap}, nil
}

// AppendDatagram encodes a DATAGRAM packet.
//
//	+-----+-----------+---------+------------------+
//	| len | peer IP   | port LE | datagram         |
//	| u8  | 4 or 16   | u16     | rest of packet   |
//	+-----+-----------+---------+------------------+
func AppendDatagram(dst []byte, id uint32, peer netip.AddrPort, data []byte) []byte {
	dst = appendHeader(dst, TypeDatagram, id)
	dst = AppendAddrPort(dst, peer)
	return append(dst, data...)
}

// ParseDatagram decodes a DATAGRAM payload (the peer must be an address).
// data aliases b.
func ParseDatagram(b []byte) (peer netip.AddrPort, data []byte, err error) {
	peer, data, err = ParseAddrPort(b)
	if err != nil {
		return peer, nil, err
	}
	if !peer.Addr().IsValid() {
		return peer, nil, malformed("DATAGRAM without a peer address")
	}
	return peer, data, nil
}

// AppendDatagramTo encodes a DATAGRAM_TO packet. Hosts over 255 bytes are
// an error.
//
//	+-----+-----------+---------+----------+
//	| len | host      | port LE | datagram |
//	| u8  | UTF-8     | u16     | rest     |
//	+-----+-----------+---------+----------+
func AppendDatagramTo(dst []byte, id uint32, host string, port uint16, data []byte) ([]byte, error) {
	if len(host) == 0 || len(host) > MaxHostLen {
		return dst, fmt.Errorf("wisp: datagram host of %d bytes (1-%d)", len(host), MaxHostLen)
	}
	dst = appendHeader(dst, TypeDatagramTo, id)
	dst = append(dst, byte(len(host)))
	dst = append(dst, host...)
	dst = binary.LittleEndian.AppendUint16(dst, port)
	return append(dst, data...), nil
}

// ParseDatagramTo decodes a DATAGRAM_TO payload; data aliases b.
func ParseDatagramTo(b []byte) (host string, port uint16, data []byte, err error) {
	if len(b) < 1 {
		return "", 0, nil, malformed("empty DATAGRAM_TO")
	}
	n := int(b[0])
	if n == 0 || len(b) < 1+n+2 {
		return "", 0, nil, malformed("DATAGRAM_TO host of %d bytes in %d", n, len(b))
	}
	h := b[1 : 1+n]
	if !utf8.Valid(h) {
		return "", 0, nil, malformed("DATAGRAM_TO host is not UTF-8")
	}
	return string(h), binary.LittleEndian.Uint16(b[1+n:]), b[1+n+2:], nil
}

// UDPOptions is the payload of TypeUDPOptions: the whole option set, each
// packet replacing the last.
//
//	+-----------+-------+----------------------+
//	| hop limit | flags | receive buffer LE    |
//	| u8        | u8    | u32                  |
//	+-----------+-------+----------------------+
//
// HopLimit 0 keeps the system default. Flag bit 0: don't fragment.
// ReceiveBuffer 0 keeps the system default; otherwise bytes (SO_RCVBUF).
type UDPOptions struct {
	HopLimit      uint8
	DontFragment  bool
	ReceiveBuffer uint32
}

// AppendUDPOptions encodes a UDP_OPTIONS packet.
func AppendUDPOptions(dst []byte, id uint32, o UDPOptions) []byte {
	dst = appendHeader(dst, TypeUDPOptions, id)
	var flags byte
	if o.DontFragment {
		flags |= 1
	}
	dst = append(dst, o.HopLimit, flags)
	return binary.LittleEndian.AppendUint32(dst, o.ReceiveBuffer)
}

// ParseUDPOptions decodes a UDP_OPTIONS payload. Unknown flag bits are an
// error, so an option is never silently ignored.
func ParseUDPOptions(b []byte) (UDPOptions, error) {
	if len(b) != 6 {
		return UDPOptions{}, malformed("UDP_OPTIONS of %d bytes, want 6", len(b))
	}
	if b[1]&^1 != 0 {
		return UDPOptions{}, malformed("UDP_OPTIONS flags 0x%02x", b[1])
	}
	return UDPOptions{HopLimit: b[0], DontFragment: b[1]&1 != 0, ReceiveBuffer: binary.LittleEndian.Uint32(b[2:])}, nil
}

// AppendJoin encodes a JOIN packet for a multicast group.
func AppendJoin(dst []byte, id uint32, group netip.Addr) []byte {
	return AppendAddrPort(appendHeader(dst, TypeJoin, id), netip.AddrPortFrom(group, 0))
}

// ParseJoin decodes a JOIN payload.
func ParseJoin(b []byte) (netip.Addr, error) {
	ap, rest, err := ParseAddrPort(b)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(rest) != 0 || !ap.Addr().IsValid() {
		return netip.Addr{}, malformed("JOIN wants one group address")
	}
	return ap.Addr(), nil
}

// AppendUDPResult encodes a UDP_RESULT packet; reason 0 means success.
//
//	+--------------+--------+
//	| request type | reason |
//	| u8           | u8     |
//	+--------------+--------+
func AppendUDPResult(dst []byte, id uint32, req Type, r CloseReason) []byte {
	return append(appendHeader(dst, TypeUDPResult, id), byte(req), byte(r))
}

// ParseUDPResult decodes a UDP_RESULT payload.
func ParseUDPResult(b []byte) (Type, CloseReason, error) {
	if len(b) != 2 {
		return 0, 0, malformed("UDP_RESULT of %d bytes, want 2", len(b))
	}
	return Type(b[0]), CloseReason(b[1]), nil
}

// SignalKind is the kind of a TypeSignal packet.
type SignalKind uint8

// Signal kinds. The client offers, the relay answers; both trickle
// candidates. Bodies are the JSON of the browser's RTCSessionDescriptionInit
// and RTCIceCandidateInit (as pion's webrtc.SessionDescription and
// webrtc.ICECandidateInit marshal), or a UTF-8 reason for SignalClose.
const (
	SignalOffer     SignalKind = 1
	SignalAnswer    SignalKind = 2
	SignalCandidate SignalKind = 3
	SignalClose     SignalKind = 4 // the peer connection is refused or over
)

func (k SignalKind) String() string {
	switch k {
	case SignalOffer:
		return "offer"
	case SignalAnswer:
		return "answer"
	case SignalCandidate:
		return "candidate"
	case SignalClose:
		return "close"
	}
	return fmt.Sprintf("SignalKind(%d)", uint8(k))
}

// AppendSignal encodes a SIGNAL packet (always stream 0).
//
//	+------+--------------------+
//	| kind | body (UTF-8 JSON)  |
//	| u8   | rest of packet     |
//	+------+--------------------+
func AppendSignal(dst []byte, k SignalKind, body []byte) []byte {
	return append(append(appendHeader(dst, TypeSignal, 0), byte(k)), body...)
}

// ParseSignal decodes a SIGNAL payload; body aliases b.
func ParseSignal(b []byte) (SignalKind, []byte, error) {
	if len(b) < 1 {
		return 0, nil, malformed("empty SIGNAL")
	}
	k := SignalKind(b[0])
	if k < SignalOffer || k > SignalClose {
		return k, nil, malformed("SIGNAL kind %d", b[0])
	}
	if !utf8.Valid(b[1:]) {
		return k, nil, malformed("SIGNAL body is not UTF-8")
	}
	return k, b[1:], nil
}
