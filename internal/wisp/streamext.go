package wisp

import (
	"encoding/binary"
	"net/netip"
	"unicode/utf8"
)

// ListenFlagCloseAck is a flag of the relay's ExtListen INFO record, whose
// payload is one byte of flags (empty: none): the relay answers a client's
// CLOSE on a listener id with CLOSE (ReasonVoluntary) on that id once the
// listening socket is closed, so the client knows the port is free.
const ListenFlagCloseAck uint8 = 1 << 0

// RelayStreamBit marks stream ids chosen by the relay (accepted connections).
const RelayStreamBit = 0x80000000

// AppendFin encodes a FIN packet.
func AppendFin(dst []byte, id uint32) []byte { return appendHeader(dst, TypeFin, id) }

// AppendGrant encodes a GRANT packet.
func AppendGrant(dst []byte, id, bytes uint32) []byte {
	return binary.LittleEndian.AppendUint32(appendHeader(dst, TypeGrant, id), bytes)
}

// ParseFin checks a FIN payload (it must be empty).
func ParseFin(b []byte) error {
	if len(b) != 0 {
		return malformed("FIN payload of %d bytes, want 0", len(b))
	}
	return nil
}

// ParseGrant decodes a GRANT payload. A grant of zero bytes is malformed.
func ParseGrant(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, malformed("GRANT payload of %d bytes, want 4", len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 {
		return 0, malformed("GRANT of 0 bytes")
	}
	return n, nil
}

// FlowControlInfo is the client's ExtFlowControl INFO payload: the relay may
// send Window bytes of DATA payload on each stream before the first GRANT.
//
//	+----------------+
//	| window (LE)    |
//	| u32, >= 1      |
//	+----------------+
//
// The relay's own record has an empty payload.
type FlowControlInfo struct{ Window uint32 }

// AppendFlowControlInfo encodes the client's record payload.
func AppendFlowControlInfo(dst []byte, f FlowControlInfo) []byte {
	return binary.LittleEndian.AppendUint32(dst, f.Window)
}

// ParseFlowControlInfo decodes the client's record payload.
func ParseFlowControlInfo(b []byte) (FlowControlInfo, error) {
	if len(b) != 4 {
		return FlowControlInfo{}, malformed("flow-control INFO payload of %d bytes, want 4", len(b))
	}
	w := binary.LittleEndian.Uint32(b)
	if w == 0 {
		return FlowControlInfo{}, malformed("flow-control window of 0 bytes")
	}
	return FlowControlInfo{Window: w}, nil
}

// Listen flags: options for the listener and its accepted connections.
const (
	ListenKeepAlive  uint8 = 1 << 0 // TCP keep-alive on accepted connections
	ListenNoDelay    uint8 = 1 << 1 // TCP_NODELAY on accepted connections
	ListenLowLatency uint8 = 1 << 2 // QualityOfService LowLatency (advisory)
	listenFlagsKnown       = ListenKeepAlive | ListenNoDelay | ListenLowLatency
)

// Listen is the payload of TypeListen.
//
//	+-------+-----------+------------------------------------+
//	| flags | port (LE) | host                               |
//	| u8    | u16       | 0-255 bytes UTF-8 IP literal;      |
//	|       | 0 = any   | empty = the relay's default address|
//	+-------+-----------+------------------------------------+
type Listen struct {
	Flags uint8
	Port  uint16
	Host  string
}

// AppendListen encodes a LISTEN packet.
func AppendListen(dst []byte, id uint32, l Listen) []byte {
	dst = appendHeader(dst, TypeListen, id)
	dst = append(dst, l.Flags)
	dst = binary.LittleEndian.AppendUint16(dst, l.Port)
	return append(dst, l.Host...)
}

// ParseListen decodes a LISTEN payload. Unknown flag bits are malformed.
func ParseListen(b []byte) (Listen, error) {
	if len(b) < 3 {
		return Listen{}, malformed("LISTEN payload of %d bytes, want at least 3", len(b))
	}
	l := Listen{Flags: b[0], Port: binary.LittleEndian.Uint16(b[1:3])}
	if l.Flags&^listenFlagsKnown != 0 {
		return Listen{}, malformed("LISTEN flags 0x%02x", l.Flags)
	}
	host := b[3:]
	if len(host) > MaxHostLen || !utf8.Valid(host) {
		return Listen{}, malformed("LISTEN host of %d bytes is too long or not UTF-8", len(host))
	}
	l.Host = string(host)
	return l, nil
}

// Listening is the payload of TypeListening: the bound endpoint, and the
// host and port at which outsiders reach the listener (host empty when the
// relay does not know one).
//
//	+----------------------+----------+-------------+-------------------+
//	| bound endpoint       | host len | host        | reachable port LE |
//	| (see Opened)         | u8       | UTF-8       | u16               |
//	+----------------------+----------+-------------+-------------------+
type Listening struct {
	Bound         netip.AddrPort
	ReachableHost string
	ReachablePort uint16
}

// AppendListening encodes a LISTENING packet. Hosts over 255 bytes are cut.
func AppendListening(dst []byte, id uint32, l Listening) []byte {
	dst = appendHeader(dst, TypeListening, id)
	dst = AppendAddrPort(dst, l.Bound)
	h := l.ReachableHost
	if len(h) > 255 {
		h = h[:255]
	}
	dst = append(dst, byte(len(h)))
	dst = append(dst, h...)
	return binary.LittleEndian.AppendUint16(dst, l.ReachablePort)
}

// ParseListening decodes a LISTENING payload.
func ParseListening(b []byte) (Listening, error) {
	bound, rest, err := ParseAddrPort(b)
	if err != nil {
		return Listening{}, err
	}
	if len(rest) < 1 {
		return Listening{}, malformed("LISTENING without a reachable host")
	}
	n := int(rest[0])
	if len(rest) != 1+n+2 {
		return Listening{}, malformed("LISTENING tail of %d bytes, want %d", len(rest), 1+n+2)
	}
	h := rest[1 : 1+n]
	if !utf8.Valid(h) {
		return Listening{}, malformed("LISTENING host is not UTF-8")
	}
	return Listening{Bound: bound, ReachableHost: string(h), ReachablePort: binary.LittleEndian.Uint16(rest[1+n:])}, nil
}

// Accepted is the payload of TypeAccepted: the listener the connection
// arrived on, the peer, and the relay's local endpoint.
//
//	+------------------+-----------------+-----------------+
//	| listener id (LE) | remote endpoint | local endpoint  |
//	| u32              | (see Opened)    | (see Opened)    |
//	+------------------+-----------------+-----------------+
type Accepted struct {
	Listener      uint32
	Remote, Local netip.AddrPort
}

// AppendAccepted encodes an ACCEPTED packet.
func AppendAccepted(dst []byte, id uint32, a Accepted) []byte {
	dst = appendHeader(dst, TypeAccepted, id)
	dst = binary.LittleEndian.AppendUint32(dst, a.Listener)
	dst = AppendAddrPort(dst, a.Remote)
	return AppendAddrPort(dst, a.Local)
}

// ParseAccepted decodes an ACCEPTED payload.
func ParseAccepted(b []byte) (Accepted, error) {
	if len(b) < 4 {
		return Accepted{}, malformed("ACCEPTED payload of %d bytes", len(b))
	}
	a := Accepted{Listener: binary.LittleEndian.Uint32(b)}
	var err error
	rest := b[4:]
	if a.Remote, rest, err = ParseAddrPort(rest); err != nil {
		return Accepted{}, err
	}
	if a.Local, rest, err = ParseAddrPort(rest); err != nil {
		return Accepted{}, err
	}
	if len(rest) != 0 {
		return Accepted{}, malformed("%d trailing bytes after ACCEPTED", len(rest))
	}
	return a, nil
}
