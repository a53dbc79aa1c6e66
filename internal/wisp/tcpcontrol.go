package wisp

import (
	"encoding/binary"
	"unicode/utf8"
)

// ExtTCPControl (sockshim) carries a StreamSocketControl's TCP options to
// the relay with the CONNECT (CONNECT_OPTIONS), and lets the client ask for
// the real connection's TCP statistics (STATS_REQUEST, answered by STATS).
// Both INFO records carry one byte, the version (1). Byte diagrams:
// docs/PROTOCOL.md, "TCP options and statistics".
const ExtTCPControl ExtensionID = 0x5C

const (
	// TypeConnectOptions (ExtTCPControl), client -> relay, on a new stream
	// id: CONNECT of a TCP stream with socket options. Answered as CONNECT
	// is (OPENED or CLOSE).
	TypeConnectOptions Type = 0xB0
	// TypeStatsRequest (ExtTCPControl), client -> relay, on an open TCP
	// stream: u32 LE nonce. Answered by TypeStats with the same nonce.
	TypeStatsRequest Type = 0xB1
	// TypeStats (ExtTCPControl), relay -> client: the stream's TCP_INFO.
	TypeStats Type = 0xB2
	// TypeListenOptions (ExtTCPControl), client -> relay, on a new listener
	// id: LISTEN with socket options for the connections it accepts.
	// Answered as LISTEN is (LISTENING or CLOSE).
	TypeListenOptions Type = 0xB3
)

// TCPOptions are a TCP stream's socket options. The zero value is the
// relay's defaults: system send buffer and hop limit, and parallel
// connection attempts to the resolved addresses (happy eyeballs).
type TCPOptions struct {
	SendBuffer uint32 // SO_SNDBUF bytes; 0: the system default
	HopLimit   uint8  // IP_TTL or IPV6_UNICAST_HOPS; 0: the system default
	// Serialize: one connection attempt at a time, address by address,
	// each waiting for the previous one to fail.
	Serialize bool
}

// IsZero reports whether o is the defaults (a plain CONNECT does).
func (o TCPOptions) IsZero() bool { return o == TCPOptions{} }

// connectOptionsSerialize is bit 0 of CONNECT_OPTIONS' flags.
const connectOptionsSerialize = 1 << 0

// AppendConnectOptions encodes a CONNECT_OPTIONS packet.
//
//	+----------------+-----------+-------+---------+-------------+
//	| send buffer LE | hop limit | flags | port LE | host        |
//	| u32            | u8        | u8    | u16     | 1-255 UTF-8 |
//	+----------------+-----------+-------+---------+-------------+
//
// Hosts of 0 or over MaxHostLen bytes are the caller's error (the relay
// closes such a stream with ReasonInvalid).
func AppendConnectOptions(dst []byte, id uint32, o TCPOptions, host string, port uint16) []byte {
	dst = appendHeader(dst, TypeConnectOptions, id)
	dst = binary.LittleEndian.AppendUint32(dst, o.SendBuffer)
	var flags byte
	if o.Serialize {
		flags |= connectOptionsSerialize
	}
	dst = append(dst, o.HopLimit, flags)
	dst = binary.LittleEndian.AppendUint16(dst, port)
	return append(dst, host...)
}

// ParseConnectOptions decodes a CONNECT_OPTIONS payload. Unknown flag bits
// are an error, so an option is never silently ignored.
func ParseConnectOptions(b []byte) (o TCPOptions, host string, port uint16, err error) {
	if len(b) < 9 {
		return o, "", 0, malformed("CONNECT_OPTIONS of %d bytes, want at least 9", len(b))
	}
	o.SendBuffer = binary.LittleEndian.Uint32(b)
	o.HopLimit = b[4]
	if b[5]&^connectOptionsSerialize != 0 {
		return o, "", 0, malformed("CONNECT_OPTIONS flags 0x%02x", b[5])
	}
	o.Serialize = b[5]&connectOptionsSerialize != 0
	port = binary.LittleEndian.Uint16(b[6:])
	h := b[8:]
	if len(h) == 0 || len(h) > MaxHostLen || !utf8.Valid(h) {
		return o, "", 0, malformed("CONNECT_OPTIONS host of %d bytes (1-%d UTF-8)", len(h), MaxHostLen)
	}
	return o, string(h), port, nil
}

// AppendStatsRequest encodes a STATS_REQUEST packet.
func AppendStatsRequest(dst []byte, id, nonce uint32) []byte {
	return binary.LittleEndian.AppendUint32(appendHeader(dst, TypeStatsRequest, id), nonce)
}

// ParseStatsRequest decodes a STATS_REQUEST payload.
func ParseStatsRequest(b []byte) (nonce uint32, err error) {
	if len(b) != 4 {
		return 0, malformed("STATS_REQUEST of %d bytes, want 4", len(b))
	}
	return binary.LittleEndian.Uint32(b), nil
}

// TCPStats is the payload of TypeStats: the relay's TCP_INFO of the real
// connection (Linux), read when the request arrived.
//
//	+----------+-------+--------+-----------+------------+-------------------+
//	| nonce LE | flags | rtt LE | rttvar LE | min rtt LE | delivery rate LE  |
//	| u32      | u8    | u32 µs | u32 µs    | u32 µs     | u64 bytes/s       |
//	+----------+-------+--------+-----------+------------+-------------------+
//	| bytes acked LE | bytes received LE | elapsed LE | send buffer LE |
//	| u64            | u64               | u64 µs     | u32 bytes      |
//	+----------------+-------------------+------------+----------------+
//
// Flags: bit 0 the figures are the kernel's (clear: the relay has no
// TCP_INFO, every figure is 0); bit 1 the delivery rate was app-limited
// (the sender did not fill the path). Elapsed is the relay's clock since
// the connection opened, so a client can turn two reports' byte counters
// into rates without trusting its own clock for the relay's moments.
type TCPStats struct {
	Nonce         uint32
	Valid         bool
	AppLimited    bool
	RTT           uint32 // tcpi_rtt, µs: the smoothed round trip time
	RTTVar        uint32 // tcpi_rttvar, µs
	MinRTT        uint32 // tcpi_min_rtt, µs (0: the kernel does not say)
	DeliveryRate  uint64 // tcpi_delivery_rate, bytes/s (0: the kernel does not say)
	BytesAcked    uint64 // tcpi_bytes_acked: sent to the destination and acknowledged
	BytesReceived uint64 // tcpi_bytes_received: received from the destination
	ElapsedMicros uint64
	SendBuffer    uint32 // SO_SNDBUF as getsockopt reports it (Linux doubles what was set)
}

const statsLen = 4 + 1 + 4*3 + 8*4 + 4

// AppendStats encodes a STATS packet.
func AppendStats(dst []byte, id uint32, s TCPStats) []byte {
	dst = appendHeader(dst, TypeStats, id)
	dst = binary.LittleEndian.AppendUint32(dst, s.Nonce)
	var flags byte
	if s.Valid {
		flags |= 1
	}
	if s.AppLimited {
		flags |= 2
	}
	dst = append(dst, flags)
	dst = binary.LittleEndian.AppendUint32(dst, s.RTT)
	dst = binary.LittleEndian.AppendUint32(dst, s.RTTVar)
	dst = binary.LittleEndian.AppendUint32(dst, s.MinRTT)
	dst = binary.LittleEndian.AppendUint64(dst, s.DeliveryRate)
	dst = binary.LittleEndian.AppendUint64(dst, s.BytesAcked)
	dst = binary.LittleEndian.AppendUint64(dst, s.BytesReceived)
	dst = binary.LittleEndian.AppendUint64(dst, s.ElapsedMicros)
	return binary.LittleEndian.AppendUint32(dst, s.SendBuffer)
}

// ParseStats decodes a STATS payload.
func ParseStats(b []byte) (TCPStats, error) {
	if len(b) != statsLen {
		return TCPStats{}, malformed("STATS of %d bytes, want %d", len(b), statsLen)
	}
	if b[4]&^3 != 0 {
		return TCPStats{}, malformed("STATS flags 0x%02x", b[4])
	}
	le := binary.LittleEndian
	return TCPStats{
		Nonce: le.Uint32(b), Valid: b[4]&1 != 0, AppLimited: b[4]&2 != 0,
		RTT: le.Uint32(b[5:]), RTTVar: le.Uint32(b[9:]), MinRTT: le.Uint32(b[13:]),
		DeliveryRate: le.Uint64(b[17:]), BytesAcked: le.Uint64(b[25:]), BytesReceived: le.Uint64(b[33:]),
		ElapsedMicros: le.Uint64(b[41:]), SendBuffer: le.Uint32(b[49:]),
	}, nil
}

// ListenOptions are the socket options a relay-held listener puts on each
// connection it accepts (StreamSocketListenerControl's). The zero value is
// the system's defaults, which a plain LISTEN asks for.
type ListenOptions struct {
	SendBuffer uint32 // SO_SNDBUF bytes; 0: the system default
	HopLimit   uint8  // IP_TTL or IPV6_UNICAST_HOPS; 0: the system default
}

// IsZero reports whether o is the defaults.
func (o ListenOptions) IsZero() bool { return o == ListenOptions{} }

// AppendListenOptions encodes a LISTEN_OPTIONS packet: LISTEN's payload
// (flags, port, host) after the options.
//
//	+----------------+-----------+--------------+---------+------------------+
//	| send buffer LE | hop limit | LISTEN flags | port LE | host             |
//	| u32            | u8        | u8           | u16     | 0-255 bytes UTF-8|
//	+----------------+-----------+--------------+---------+------------------+
func AppendListenOptions(dst []byte, id uint32, o ListenOptions, l Listen) []byte {
	dst = appendHeader(dst, TypeListenOptions, id)
	dst = binary.LittleEndian.AppendUint32(dst, o.SendBuffer)
	dst = append(dst, o.HopLimit, l.Flags)
	dst = binary.LittleEndian.AppendUint16(dst, l.Port)
	return append(dst, l.Host...)
}

// ParseListenOptions decodes a LISTEN_OPTIONS payload; the LISTEN part is
// checked as ParseListen checks it (unknown flag bits are malformed).
func ParseListenOptions(b []byte) (ListenOptions, Listen, error) {
	if len(b) < 8 {
		return ListenOptions{}, Listen{}, malformed("LISTEN_OPTIONS of %d bytes, want at least 8", len(b))
	}
	o := ListenOptions{SendBuffer: binary.LittleEndian.Uint32(b), HopLimit: b[4]}
	l, err := ParseListen(b[5:])
	if err != nil {
		return ListenOptions{}, Listen{}, err
	}
	return o, l, nil
}
