package wisp

import "fmt"

// Type is a Wisp packet type: the first byte of every packet.
type Type uint8

// Wisp's own packet types (docs/PROTOCOL.md, "Packets").
const (
	TypeConnect  Type = 0x01
	TypeData     Type = 0x02
	TypeContinue Type = 0x03
	TypeClose    Type = 0x04
	TypeInfo     Type = 0x05
)

// Sockshim's extension packet types, 0x80 and above. Each is sent only to a
// peer that advertised the extension named beside it. Byte diagrams:
// docs/PROTOCOL.md.
const (
	// TypeOpened (ExtSockshim), relay -> client: the stream's destination
	// connection is established. Payload: remote endpoint, local endpoint.
	TypeOpened Type = 0x80
	// TypeFin (ExtHalfClose), both ways, empty payload: the sender sends no
	// more DATA on the stream; it still reads.
	TypeFin Type = 0x81
	// TypeGrant (ExtFlowControl), client -> relay: u32 LE, bytes of DATA
	// payload the relay may send on the stream beyond what it was allowed.
	TypeGrant Type = 0x82
	// TypeListen (ExtListen), client -> relay, on a listener id the client
	// picks from its own stream-id space: open a TCP listener.
	TypeListen Type = 0x83
	// TypeListening (ExtListen), relay -> client, on the listener id: the
	// listener is bound.
	TypeListening Type = 0x84
	// TypeAccepted (ExtListen), relay -> client, on a new relay-initiated
	// stream id (high bit set): a connection arrived on a listener.
	TypeAccepted Type = 0x85

	// TypeBind (ExtBoundUDP), client -> relay, opens an unconnected UDP
	// socket on a new stream id. Payload: flags, local endpoint. The relay
	// answers OPENED (remote endpoint empty, local endpoint bound) or CLOSE.
	TypeBind Type = 0x88
	// TypeDatagram (ExtBoundUDP), both ways, bound streams: peer endpoint,
	// then one whole datagram. Client -> relay: the destination; relay ->
	// client: the source.
	TypeDatagram Type = 0x89
	// TypeDatagramTo (ExtBoundUDP), client -> relay, bound streams: a
	// datagram to a host name the relay resolves and checks. Payload: u8
	// host length, host, u16 LE port, datagram.
	TypeDatagramTo Type = 0x8A
	// TypeUDPOptions (ExtBoundUDP), client -> relay, any UDP stream: socket
	// options. The relay answers TypeUDPResult.
	TypeUDPOptions Type = 0x8B
	// TypeJoin (ExtBoundUDP), client -> relay, any UDP stream: join a
	// multicast group. Payload: the group as an endpoint (port 0). Answered
	// by TypeUDPResult.
	TypeJoin Type = 0x8C
	// TypeUDPResult (ExtBoundUDP), relay -> client: the outcome of
	// TypeUDPOptions or TypeJoin. Payload: request type, close reason
	// (0 = done).
	TypeUDPResult Type = 0x8D
	// TypeSignal (ExtWebRTC), both ways, stream 0: WebRTC signalling.
	// Payload: kind, then a UTF-8 body.
	TypeSignal Type = 0x8E
	// TypePing (ExtLiveness), both ways, stream 0: u32 LE nonce; answered
	// with TypePong as soon as it is read.
	TypePing Type = 0x8F
	// TypePong (ExtLiveness), both ways, stream 0: the nonce of the PING it
	// answers.
	TypePong Type = 0x90

	// TypeAck (ExtResume), both ways, stream 0: u64 LE, the sender's
	// count of session messages received (cumulative; also the heartbeat).
	TypeAck Type = 0xA0
	// TypeSkip (ExtResume), both ways, stream 0, in a replay: u32 LE, that
	// many numbered messages (datagrams) are not replayed.
	TypeSkip Type = 0xA1
	// TypeResumeToken (ExtResume), relay -> client, stream 0: the 16-byte
	// token for the next resume, then u64 LE, the relay's count of session
	// messages received.
	TypeResumeToken Type = 0xA2
)

// typeNames are the names docs/PROTOCOL.md gives the packet types.
var typeNames = map[Type]string{
	TypeConnect: "CONNECT", TypeData: "DATA", TypeContinue: "CONTINUE", TypeClose: "CLOSE", TypeInfo: "INFO",
	TypeOpened: "OPENED", TypeFin: "FIN", TypeGrant: "GRANT",
	TypeListen: "LISTEN", TypeListening: "LISTENING", TypeAccepted: "ACCEPTED",
	TypeBind: "BIND", TypeDatagram: "DATAGRAM", TypeDatagramTo: "DATAGRAM_TO",
	TypeUDPOptions: "UDP_OPTIONS", TypeJoin: "JOIN", TypeUDPResult: "UDP_RESULT",
	TypeSignal: "SIGNAL", TypePing: "PING", TypePong: "PONG",
	TypeAck: "ACK", TypeSkip: "SKIP", TypeResumeToken: "RESUME_TOKEN",
	TypeTransfer: "TRANSFER", TypeTransferred: "TRANSFERRED", TypeUnread: "UNREAD", // broker.go
	TypeList: "LIST", TypeHeld: "HELD", TypeReclaim: "RECLAIM", TypePushSubscribe: "PUSH_SUBSCRIBE",
	TypeConnectOptions: "CONNECT_OPTIONS", TypeStatsRequest: "STATS_REQUEST", TypeStats: "STATS", TypeListenOptions: "LISTEN_OPTIONS", // tcpcontrol.go
}

// String is the packet type's name in docs/PROTOCOL.md ("CONNECT",
// "DATAGRAM_TO"), or Type(0xNN) for a type sockshim does not define.
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Type(0x%02x)", uint8(t))
}
