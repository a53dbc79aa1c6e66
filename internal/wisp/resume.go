package wisp

import (
	"encoding/binary"
	"fmt"
)

// ExtResume is sockshim's session resume extension: a session survives a
// lost WebSocket, both sides replaying what the other did not receive. See
// docs/PROTOCOL.md, "Session resume", and internal/resume.
const ExtResume ExtensionID = 0x5E

// Close reasons of a refused resume (stream 0).
const (
	// ReasonResumeUnknown: no session holds that token here (a wrong
	// token, or a session this relay never had).
	ReasonResumeUnknown CloseReason = 0xD8
	// ReasonResumeExpired: the session's resume window passed; it is gone.
	ReasonResumeExpired CloseReason = 0xD9
	// ReasonResumeUsed: the token was already used (tokens are single use
	// and rotated on every resume).
	ReasonResumeUsed CloseReason = 0xDA
	// ReasonResumeWrongRelay: the session is held by another relay
	// instance (a load balancer routed the resume to the wrong one).
	ReasonResumeWrongRelay CloseReason = 0xDB
	// ReasonResumePosition: the client claims a position the relay never
	// sent; the two cannot be the same session, which is ended.
	ReasonResumePosition CloseReason = 0xDC
)

func init() {
	reasonNames[ReasonResumeUnknown] = "resume refused: unknown session token"
	reasonNames[ReasonResumeExpired] = "resume refused: resume window expired"
	reasonNames[ReasonResumeUsed] = "resume refused: token already used"
	reasonNames[ReasonResumeWrongRelay] = "resume refused: session held by another relay"
	reasonNames[ReasonResumePosition] = "resume refused: position does not match the session"
}

// TokenLen is the size of a resume token: 128 bits from crypto/rand.
const TokenLen = 16

// MaxInstanceLen bounds a relay instance id.
const MaxInstanceLen = 64

// ResumeServerInfo is the relay's INFO record of ExtResume.
//
//	+---------+-------------------+----------+-------------------+
//	| version | window seconds LE | id len   | relay instance id |
//	| u8 (1)  | u32               | u8       | id len bytes      |
//	+---------+-------------------+----------+-------------------+
type ResumeServerInfo struct {
	Version  uint8
	Window   uint32 // seconds a detached session is held
	Instance string // [A-Za-z0-9._-], 0-64 bytes; the client names it when it resumes
}

// ResumeClientInfo is the client's INFO record of ExtResume. A fresh
// session sends only the version; a resume adds the token, the client's
// count of session messages received, and the instance it resumes on.
//
//	fresh:  +---------+
//	        | version |
//	        | u8 (1)  |
//	        +---------+
//	resume: +---------+-------------+-------------+--------+-------------+
//	        | version | token       | received LE | id len | instance id |
//	        | u8 (1)  | 16 bytes    | u64         | u8     | id len bytes|
//	        +---------+-------------+-------------+--------+-------------+
type ResumeClientInfo struct {
	Version  uint8
	Resume   bool // the record carries a token
	Token    [TokenLen]byte
	Received uint64
	Instance string
}

func validInstance(s string) bool {
	if len(s) > MaxInstanceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidInstance reports whether s can be a relay instance id.
func ValidInstance(s string) bool { return validInstance(s) }

// AppendResumeServerInfo encodes the relay's record payload.
func AppendResumeServerInfo(dst []byte, i ResumeServerInfo) ([]byte, error) {
	if !validInstance(i.Instance) {
		return dst, fmt.Errorf("wisp: resume instance id %q: want 0-%d bytes of [A-Za-z0-9._-]", i.Instance, MaxInstanceLen)
	}
	dst = append(dst, i.Version)
	dst = binary.LittleEndian.AppendUint32(dst, i.Window)
	dst = append(dst, byte(len(i.Instance)))
	return append(dst, i.Instance...), nil
}

// ParseResumeServerInfo decodes the relay's record payload.
func ParseResumeServerInfo(b []byte) (ResumeServerInfo, error) {
	if len(b) < 6 {
		return ResumeServerInfo{}, malformed("resume server record of %d bytes, want at least 6", len(b))
	}
	i := ResumeServerInfo{Version: b[0], Window: binary.LittleEndian.Uint32(b[1:5])}
	n := int(b[5])
	if len(b) != 6+n {
		return ResumeServerInfo{}, malformed("resume server record of %d bytes, length says %d", len(b), 6+n)
	}
	i.Instance = string(b[6:])
	if !validInstance(i.Instance) {
		return ResumeServerInfo{}, malformed("resume instance id %q", i.Instance)
	}
	return i, nil
}

// AppendResumeClientInfo encodes the client's record payload.
func AppendResumeClientInfo(dst []byte, i ResumeClientInfo) ([]byte, error) {
	dst = append(dst, i.Version)
	if !i.Resume {
		return dst, nil
	}
	if !validInstance(i.Instance) {
		return dst, fmt.Errorf("wisp: resume instance id %q: want 0-%d bytes of [A-Za-z0-9._-]", i.Instance, MaxInstanceLen)
	}
	dst = append(dst, i.Token[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, i.Received)
	dst = append(dst, byte(len(i.Instance)))
	return append(dst, i.Instance...), nil
}

// ParseResumeClientInfo decodes the client's record payload.
func ParseResumeClientInfo(b []byte) (ResumeClientInfo, error) {
	if len(b) == 0 {
		return ResumeClientInfo{}, malformed("empty resume client record")
	}
	i := ResumeClientInfo{Version: b[0]}
	if len(b) == 1 {
		return i, nil
	}
	const fixed = 1 + TokenLen + 8 + 1
	if len(b) < fixed {
		return ResumeClientInfo{}, malformed("resume client record of %d bytes, want 1 or at least %d", len(b), fixed)
	}
	i.Resume = true
	copy(i.Token[:], b[1:1+TokenLen])
	i.Received = binary.LittleEndian.Uint64(b[1+TokenLen:])
	n := int(b[fixed-1])
	if len(b) != fixed+n {
		return ResumeClientInfo{}, malformed("resume client record of %d bytes, length says %d", len(b), fixed+n)
	}
	i.Instance = string(b[fixed:])
	if !validInstance(i.Instance) {
		return ResumeClientInfo{}, malformed("resume instance id %q", i.Instance)
	}
	return i, nil
}

// AppendAck encodes ACK(received) on stream 0.
//
//	+------+---+-------------+
//	| 0xA0 | 0 | received LE |
//	|      |   | u64         |
//	+------+---+-------------+
func AppendAck(dst []byte, received uint64) []byte {
	return binary.LittleEndian.AppendUint64(appendHeader(dst, TypeAck, 0), received)
}

// AppendSkip encodes SKIP(n) on stream 0.
//
//	+------+---+----------+
//	| 0xA1 | 0 | count LE |
//	|      |   | u32      |
//	+------+---+----------+
func AppendSkip(dst []byte, n uint32) []byte {
	return binary.LittleEndian.AppendUint32(appendHeader(dst, TypeSkip, 0), n)
}

// AppendResumeToken encodes RESUME_TOKEN on stream 0.
//
//	+------+---+----------+-------------+
//	| 0xA2 | 0 | token    | received LE |
//	|      |   | 16 bytes | u64         |
//	+------+---+----------+-------------+
func AppendResumeToken(dst []byte, token [TokenLen]byte, received uint64) []byte {
	dst = append(appendHeader(dst, TypeResumeToken, 0), token[:]...)
	return binary.LittleEndian.AppendUint64(dst, received)
}

// ParseAck decodes an ACK payload (Packet.Data).
func ParseAck(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, malformed("ACK payload of %d bytes, want 8", len(b))
	}
	return binary.LittleEndian.Uint64(b), nil
}

// ParseSkip decodes a SKIP payload.
func ParseSkip(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, malformed("SKIP payload of %d bytes, want 4", len(b))
	}
	return binary.LittleEndian.Uint32(b), nil
}

// ParseResumeToken decodes a RESUME_TOKEN payload.
func ParseResumeToken(b []byte) (token [TokenLen]byte, received uint64, err error) {
	if len(b) != TokenLen+8 {
		return token, 0, malformed("RESUME_TOKEN payload of %d bytes, want %d", len(b), TokenLen+8)
	}
	copy(token[:], b)
	return token, binary.LittleEndian.Uint64(b[TokenLen:]), nil
}
