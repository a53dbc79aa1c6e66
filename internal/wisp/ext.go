package wisp

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// ExtensionID identifies an INFO extension record.
type ExtensionID uint8

// Extensions. 0x01-0x05 are the Wisp specification's; 0xF0 and 0xF1 are taken
// by other implementations. 0x53 ('S') onward are sockshim's.
const (
	ExtUDP         ExtensionID = 0x01
	ExtPassword    ExtensionID = 0x02
	ExtKeyAuth     ExtensionID = 0x03
	ExtMOTD        ExtensionID = 0x04
	ExtStreamOpen  ExtensionID = 0x05
	ExtSockshim    ExtensionID = 0x53 // sockshim: richer close reasons, capability advertisement
	ExtHalfClose   ExtensionID = 0x54 // sockshim: FIN packets
	ExtFlowControl ExtensionID = 0x55 // sockshim: relay-to-client credit
	ExtListen      ExtensionID = 0x56 // sockshim: relay-held listeners
	ExtBoundUDP    ExtensionID = 0x57 // sockshim: unconnected UDP sockets
	ExtWebRTC      ExtensionID = 0x58 // sockshim: WebRTC signalling
)

// Password is the client's payload of the password extension (0x02); sockshim
// carries an app id as the user name and the app secret as the password.
//
//	+----------+-----------------+----------+----------+
//	| user len | password len LE | user     | password |
//	| u8       | u16             | UTF-8    | UTF-8    |
//	+----------+-----------------+----------+----------+
type Password struct{ User, Password string }

// AppendPassword encodes p. User names over 255 bytes and passwords over
// 65535 bytes are errors.
func AppendPassword(dst []byte, p Password) ([]byte, error) {
	if len(p.User) > 0xff || len(p.Password) > 0xffff {
		return dst, fmt.Errorf("wisp: password extension: user %d bytes (max 255), password %d bytes (max 65535)", len(p.User), len(p.Password))
	}
	dst = append(dst, byte(len(p.User)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(p.Password)))
	dst = append(dst, p.User...)
	return append(dst, p.Password...), nil
}

// ParsePassword decodes the client payload of the password extension.
func ParsePassword(b []byte) (Password, error) {
	if len(b) < 3 {
		return Password{}, malformed("password extension of %d bytes, want at least 3", len(b))
	}
	ul, pl := int(b[0]), int(binary.LittleEndian.Uint16(b[1:3]))
	if len(b) != 3+ul+pl {
		return Password{}, malformed("password extension of %d bytes, lengths say %d", len(b), 3+ul+pl)
	}
	u, pw := b[3:3+ul], b[3+ul:]
	if !utf8.Valid(u) || !utf8.Valid(pw) {
		return Password{}, malformed("password extension is not UTF-8")
	}
	return Password{User: string(u), Password: string(pw)}, nil
}
