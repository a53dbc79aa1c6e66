package wisp

import "encoding/binary"

// ExtLiveness (sockshim) lets either peer ask the other to prove it is
// alive with PING and PONG on stream 0. Browser JavaScript cannot send
// WebSocket pings, so a client in a browser could otherwise not tell a
// dead relay (a blackholed network, no FIN) from an idle one. Both records
// have an empty payload; a peer sends PING only after both advertised it.
const ExtLiveness ExtensionID = 0x59

// Its packet types, TypePing and TypePong, are in type.go; byte diagram:
// docs/PROTOCOL.md.

// AppendPing encodes a PING packet.
func AppendPing(dst []byte, nonce uint32) []byte {
	return binary.LittleEndian.AppendUint32(appendHeader(dst, TypePing, 0), nonce)
}

// AppendPong encodes a PONG packet answering the PING with nonce.
func AppendPong(dst []byte, nonce uint32) []byte {
	return binary.LittleEndian.AppendUint32(appendHeader(dst, TypePong, 0), nonce)
}

// ParsePing decodes a PING or PONG payload.
func ParsePing(b []byte) (nonce uint32, err error) {
	if len(b) != 4 {
		return 0, malformed("PING/PONG payload of %d bytes, want 4", len(b))
	}
	return binary.LittleEndian.Uint32(b), nil
}
