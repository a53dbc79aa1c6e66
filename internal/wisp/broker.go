package wisp

import (
	"encoding/binary"
	"time"
	"unicode/utf8"
)

// ExtBroker (sockshim) is the socket broker: a client hands an open stream,
// listener or UDP socket to the relay, which holds it outside any session on a lease
// and buffers what arrives; a later session of the same app lists what is
// held and reclaims it. Both records have an empty payload. Byte diagrams:
// docs/PROTOCOL.md, "Socket broker".
const ExtBroker ExtensionID = 0x5B

// Its packet types (type.go has the others).
const (
	// TypeTransfer, client -> relay, on the stream or listener id: hand it
	// to the broker. Payload: Transfer.
	TypeTransfer Type = 0x91
	// TypeTransferred, relay -> client, on the id: u8 close reason, 0 =
	// held. After a 0 the relay sends nothing more on the id.
	TypeTransferred Type = 0x92
	// TypeUnread, client -> relay, on a transferred stream's id after
	// TRANSFERRED 0: u8 flags (UnreadLast), then bytes the client had
	// received and its app had not read; they precede what the broker holds.
	// On a UDP socket each UNREAD but the last carries one datagram (a bound
	// socket's with its peer first, as in DATAGRAM), the last none.
	TypeUnread Type = 0x93
	// TypeList, client -> relay, stream 0: u32 LE nonce. Answered by HELD.
	TypeList Type = 0x94
	// TypeHeld, relay -> client, stream 0: the nonce, then what the broker
	// holds for the session's app. Payload: Held.
	TypeHeld Type = 0x95
	// TypeReclaim, client -> relay, on a new client id: u8 kind, then the
	// socket id. Answered like CONNECT (OPENED, then DATA: the held bytes
	// first) for a stream, like LISTEN (LISTENING) for a listener, like
	// BIND (OPENED, then the held datagrams) for a UDP socket, or CLOSE.
	TypeReclaim Type = 0x96
)

// UnreadLast marks the last UNREAD packet of a transfer.
const UnreadLast uint8 = 1

// HeldKind is what a held socket is (WinRT's SocketActivityKind).
type HeldKind uint8

const (
	HeldStream   HeldKind = 1
	HeldListener HeldKind = 2
	HeldDatagram HeldKind = 3
)

// HeldReason is why a held socket wants its app (WinRT's
// SocketActivityTriggerReason); 0: nothing happened yet.
type HeldReason uint8

const (
	HeldNone             HeldReason = 0
	HeldActivity         HeldReason = 1 // data arrived
	HeldAccepted         HeldReason = 2 // a held listener accepted a connection
	HeldKeepAliveExpired HeldReason = 3 // the keep-alive time passed with no activity
	HeldClosed           HeldReason = 4 // the peer closed (its data before the close is kept)
	heldReasonLimit                 = 5
)

const (
	maxSocketID    = 255
	maxContext     = 4096
	maxTaskID      = 255
	maxHeldEntries = 4096
)

// Transfer is the payload of TypeTransfer.
//
//	+--------+--------+--------+---------+---------------+---------+---------+
//	| id len | id     | task   | task id | keep-alive LE | ctx len | context |
//	| u8     | UTF-8  | len u8 | UTF-8   | u32 seconds   | u16 LE  | bytes   |
//	+--------+--------+--------+---------+---------------+---------+---------+
//
// id (1-255 bytes) names the socket for the app; task id may be empty;
// keep-alive 0 means the app's lease TTL; context is at most 4096 bytes.
type Transfer struct {
	SocketID  string
	TaskID    string
	KeepAlive time.Duration // whole seconds on the wire
	Context   []byte
}

// AppendTransfer encodes a TRANSFER packet; fields over their limits are
// errors of the caller (ValidTransfer).
func AppendTransfer(dst []byte, id uint32, t Transfer) []byte {
	dst = appendHeader(dst, TypeTransfer, id)
	dst = append(dst, byte(len(t.SocketID)))
	dst = append(dst, t.SocketID...)
	dst = append(dst, byte(len(t.TaskID)))
	dst = append(dst, t.TaskID...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(t.KeepAlive/time.Second))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(t.Context)))
	return append(dst, t.Context...)
}

// ValidTransfer checks t's lengths before it is encoded.
func ValidTransfer(t Transfer) error {
	switch {
	case len(t.SocketID) == 0 || len(t.SocketID) > maxSocketID || !utf8.ValidString(t.SocketID):
		return malformed("socket id of %d bytes, want 1-%d of UTF-8", len(t.SocketID), maxSocketID)
	case len(t.TaskID) > maxTaskID || !utf8.ValidString(t.TaskID):
		return malformed("task id of %d bytes, want at most %d of UTF-8", len(t.TaskID), maxTaskID)
	case len(t.Context) > maxContext:
		return malformed("context of %d bytes, want at most %d", len(t.Context), maxContext)
	case t.KeepAlive < 0 || t.KeepAlive/time.Second > 0xffffffff:
		return malformed("keep-alive time %v out of range", t.KeepAlive)
	}
	return nil
}

// ParseTransfer decodes a TRANSFER payload.
func ParseTransfer(b []byte) (Transfer, error) {
	var t Transfer
	id, b, ok := cutLen8(b)
	if !ok {
		return t, malformed("TRANSFER socket id truncated")
	}
	task, b, ok := cutLen8(b)
	if !ok || len(b) < 6 {
		return t, malformed("TRANSFER truncated after the socket id")
	}
	t.SocketID, t.TaskID = string(id), string(task)
	t.KeepAlive = time.Duration(binary.LittleEndian.Uint32(b)) * time.Second
	n := int(binary.LittleEndian.Uint16(b[4:6]))
	if len(b) != 6+n {
		return t, malformed("TRANSFER context of %d bytes, length says %d", len(b)-6, n)
	}
	if n > 0 {
		t.Context = b[6:]
	}
	return t, ValidTransfer(t)
}

func cutLen8(b []byte) (v, rest []byte, ok bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, nil, false
	}
	return b[1 : 1+int(b[0])], b[1+int(b[0]):], true
}

// AppendTransferred encodes a TRANSFERRED packet; r 0 means held.
func AppendTransferred(dst []byte, id uint32, r CloseReason) []byte {
	return append(appendHeader(dst, TypeTransferred, id), byte(r))
}

// ParseTransferred decodes a TRANSFERRED payload.
func ParseTransferred(b []byte) (CloseReason, error) {
	if len(b) != 1 {
		return 0, malformed("TRANSFERRED payload of %d bytes, want 1", len(b))
	}
	return CloseReason(b[0]), nil
}

// AppendUnread encodes an UNREAD packet.
func AppendUnread(dst []byte, id uint32, last bool, data []byte) []byte {
	f := uint8(0)
	if last {
		f = UnreadLast
	}
	return append(append(appendHeader(dst, TypeUnread, id), f), data...)
}

// ParseUnread decodes an UNREAD payload; data aliases b.
func ParseUnread(b []byte) (last bool, data []byte, err error) {
	if len(b) < 1 || b[0]&^UnreadLast != 0 {
		return false, nil, malformed("UNREAD payload without valid flags")
	}
	return b[0]&UnreadLast != 0, b[1:], nil
}

// AppendList encodes a LIST packet.
func AppendList(dst []byte, nonce uint32) []byte {
	return binary.LittleEndian.AppendUint32(appendHeader(dst, TypeList, 0), nonce)
}

// ParseList decodes a LIST payload.
func ParseList(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, malformed("LIST payload of %d bytes, want 4", len(b))
	}
	return binary.LittleEndian.Uint32(b), nil
}

// HeldSocket is one entry of HELD.
//
//	+------+--------+--------+-------+--------+---------+-----------------+---------+---------+
//	| kind | reason | id len | id    | task   | task id | buffered LE     | ctx len | context |
//	| u8   | u8     | u8     | UTF-8 | len u8 | UTF-8   | u32 bytes held  | u16 LE  | bytes   |
//	+------+--------+--------+-------+--------+---------+-----------------+---------+---------+
type HeldSocket struct {
	Kind     HeldKind
	Reason   HeldReason
	SocketID string
	TaskID   string
	Buffered uint32
	Context  []byte
}

// Held is the payload of TypeHeld: the LIST nonce, a u16 LE count, then
// that many HeldSocket entries.
type Held struct {
	Nonce   uint32
	Sockets []HeldSocket
}

// AppendHeld encodes a HELD packet; at most 4096 entries are sent.
func AppendHeld(dst []byte, h Held) []byte {
	dst = appendHeader(dst, TypeHeld, 0)
	dst = binary.LittleEndian.AppendUint32(dst, h.Nonce)
	n := min(len(h.Sockets), maxHeldEntries)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(n))
	for _, e := range h.Sockets[:n] {
		dst = append(dst, byte(e.Kind), byte(e.Reason), byte(len(e.SocketID)))
		dst = append(dst, e.SocketID...)
		dst = append(dst, byte(len(e.TaskID)))
		dst = append(dst, e.TaskID...)
		dst = binary.LittleEndian.AppendUint32(dst, e.Buffered)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(e.Context)))
		dst = append(dst, e.Context...)
	}
	return dst
}

// ParseHeld decodes a HELD payload; contexts are copied.
func ParseHeld(b []byte) (Held, error) {
	var h Held
	if len(b) < 6 {
		return h, malformed("HELD payload of %d bytes", len(b))
	}
	h.Nonce = binary.LittleEndian.Uint32(b)
	n := int(binary.LittleEndian.Uint16(b[4:]))
	b = b[6:]
	for range n {
		if len(b) < 2 {
			return h, malformed("HELD entry truncated")
		}
		e := HeldSocket{Kind: HeldKind(b[0]), Reason: HeldReason(b[1])}
		id, rest, ok := cutLen8(b[2:])
		if !ok {
			return h, malformed("HELD socket id truncated")
		}
		task, rest, ok := cutLen8(rest)
		if !ok || len(rest) < 6 {
			return h, malformed("HELD entry truncated after the task id")
		}
		e.SocketID, e.TaskID = string(id), string(task)
		e.Buffered = binary.LittleEndian.Uint32(rest)
		cl := int(binary.LittleEndian.Uint16(rest[4:]))
		if len(rest) < 6+cl {
			return h, malformed("HELD context truncated")
		}
		if cl > 0 {
			e.Context = append([]byte(nil), rest[6:6+cl]...)
		}
		if e.Kind < HeldStream || e.Kind > HeldDatagram || e.Reason >= heldReasonLimit {
			return h, malformed("HELD entry of kind %d, reason %d", e.Kind, e.Reason)
		}
		h.Sockets = append(h.Sockets, e)
		b = rest[6+cl:]
	}
	if len(b) != 0 {
		return h, malformed("%d trailing bytes after HELD", len(b))
	}
	return h, nil
}

// AppendReclaim encodes a RECLAIM packet.
func AppendReclaim(dst []byte, id uint32, kind HeldKind, socketID string) []byte {
	return append(append(appendHeader(dst, TypeReclaim, id), byte(kind)), socketID...)
}

// ParseReclaim decodes a RECLAIM payload.
func ParseReclaim(b []byte) (HeldKind, string, error) {
	if len(b) < 2 || len(b) > 1+maxSocketID || !utf8.Valid(b[1:]) {
		return 0, "", malformed("RECLAIM payload of %d bytes", len(b))
	}
	k := HeldKind(b[0])
	if k < HeldStream || k > HeldDatagram {
		return 0, "", malformed("RECLAIM of kind %d", k)
	}
	return k, string(b[1:]), nil
}

// TypePushSubscribe, client -> relay, stream 0: the app's Web Push
// subscription, which the broker notifies when a held socket of the app
// has activity. Payload: PushSubscription (an empty endpoint removes it).
// Answered by TRANSFERRED on stream 0: 0, or the reason of a refusal.
const TypePushSubscribe Type = 0x97

// PushSubscription is the payload of TypePushSubscribe: a browser
// PushSubscription's endpoint and keys.
//
//	+-----------------+----------+-------------+---------+----------+
//	| endpoint len LE | endpoint | p256dh len  | p256dh  | auth len | auth |
//	| u16             | UTF-8    | u8          | 65 B    | u8       | 16 B |
//	+-----------------+----------+-------------+---------+----------+
type PushSubscription struct {
	Endpoint     string
	P256dh, Auth []byte
}

// AppendPushSubscribe encodes a PUSH_SUBSCRIBE packet.
func AppendPushSubscribe(dst []byte, s PushSubscription) []byte {
	dst = appendHeader(dst, TypePushSubscribe, 0)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(s.Endpoint)))
	dst = append(dst, s.Endpoint...)
	dst = append(dst, byte(len(s.P256dh)))
	dst = append(dst, s.P256dh...)
	dst = append(dst, byte(len(s.Auth)))
	return append(dst, s.Auth...)
}

// ParsePushSubscribe decodes a PUSH_SUBSCRIBE payload; keys are copied.
func ParsePushSubscribe(b []byte) (PushSubscription, error) {
	var s PushSubscription
	if len(b) < 2 {
		return s, malformed("PUSH_SUBSCRIBE payload of %d bytes", len(b))
	}
	n := int(binary.LittleEndian.Uint16(b))
	if len(b) < 2+n || !utf8.Valid(b[2:2+n]) {
		return s, malformed("PUSH_SUBSCRIBE endpoint truncated or not UTF-8")
	}
	s.Endpoint = string(b[2 : 2+n])
	p, rest, ok := cutLen8(b[2+n:])
	if !ok {
		return s, malformed("PUSH_SUBSCRIBE p256dh truncated")
	}
	a, rest, ok := cutLen8(rest)
	if !ok || len(rest) != 0 {
		return s, malformed("PUSH_SUBSCRIBE auth truncated or trailing bytes")
	}
	if n > 0 && (len(p) != 65 || len(a) != 16) {
		return s, malformed("PUSH_SUBSCRIBE keys of %d and %d bytes, want 65 and 16", len(p), len(a))
	}
	s.P256dh, s.Auth = append([]byte(nil), p...), append([]byte(nil), a...)
	return s, nil
}
