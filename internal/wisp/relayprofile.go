package wisp

import (
	"encoding/binary"
	"unicode/utf8"
)

// ExtRelayProfile (sockshim) is sent by a relay that cannot do everything the
// native relay does (the Cloudflare Workers build, cmd/edge): it says who the
// relay is and its fixed stream cap, so a client's errors can name it. Such a
// relay advertises no UDP, listener or WebRTC extension; a client fails those
// calls at once.
const ExtRelayProfile ExtensionID = 0x5F

// RelayProfile is the relay's record of ExtRelayProfile:
//
//	+-----------------+-------+-------+
//	| max streams LE  | flags | name  |
//	| u16             | u8    | UTF-8 |
//	+-----------------+-------+-------+
//
// MaxStreams is how many streams a session may have open at once (0: no
// fixed cap); Flags are reserved, sent as 0 and ignored (relay TLS is its
// own extension, relaytls.go); Name describes the relay, e.g. "the edge
// relay (Cloudflare Workers)".
type RelayProfile struct {
	MaxStreams uint16
	Flags      uint8
	Name       string
}

// AppendRelayProfile encodes p.
func AppendRelayProfile(dst []byte, p RelayProfile) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, p.MaxStreams)
	dst = append(dst, p.Flags)
	return append(dst, p.Name...)
}

// ParseRelayProfile decodes a relay-profile record.
func ParseRelayProfile(b []byte) (RelayProfile, error) {
	if len(b) < 3 {
		return RelayProfile{}, malformed("relay profile of %d bytes, want at least 3", len(b))
	}
	if !utf8.Valid(b[3:]) {
		return RelayProfile{}, malformed("relay profile name is not UTF-8")
	}
	return RelayProfile{MaxStreams: binary.LittleEndian.Uint16(b), Flags: b[2], Name: string(b[3:])}, nil
}
