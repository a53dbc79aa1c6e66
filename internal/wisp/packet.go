// Package wisp is the Wisp v1/v2 wire codec shared by the sockshim client
// and relay, plus sockshim's extensions. See docs/PROTOCOL.md for byte
// diagrams.
//
// Every packet is one binary WebSocket message:
//
//	+------+-----------------+----------------+
//	| type | stream id (LE)  | payload ...    |
//	| u8   | u32             | rest of frame  |
//	+------+-----------------+----------------+
package wisp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// StreamType is the CONNECT stream type.
type StreamType uint8

const (
	StreamTCP StreamType = 0x01
	StreamUDP StreamType = 0x02
)

func (s StreamType) String() string {
	switch s {
	case StreamTCP:
		return "TCP"
	case StreamUDP:
		return "UDP"
	}
	return fmt.Sprintf("StreamType(0x%02x)", uint8(s))
}

// HeaderLen is the size of the fixed packet header.
const HeaderLen = 5

// MaxHostLen bounds a CONNECT host name: 253 is the DNS limit; the extra
// room is for bracketed or zone-free IPv6 literals, never more.
const MaxHostLen = 255

// Errors returned by Parse. They wrap ErrMalformed.
var ErrMalformed = errors.New("wisp: malformed packet")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Packet is one decoded Wisp packet. Only the fields of its Type are set.
// Data and extension payloads alias the buffer passed to Parse.
type Packet struct {
	Type     Type
	StreamID uint32

	// CONNECT
	StreamType StreamType
	Port       uint16
	Host       string

	// DATA
	Data []byte

	// CONTINUE: the number of packets the receiver may send (absolute).
	Credit uint32

	// CLOSE
	Reason CloseReason

	// INFO
	Info Info
}

// Info is the INFO payload: the protocol version and extension records.
type Info struct {
	Major, Minor uint8
	Extensions   []Extension
}

// Extension is one INFO extension record.
//
//	+----+--------------+-----------------+
//	| id | length (LE)  | payload         |
//	| u8 | u32          | length bytes    |
//	+----+--------------+-----------------+
type Extension struct {
	ID      ExtensionID
	Payload []byte
}

// Find returns the record with the given id.
func (i Info) Find(id ExtensionID) (Extension, bool) {
	for _, e := range i.Extensions {
		if e.ID == id {
			return e, true
		}
	}
	return Extension{}, false
}

// Parse decodes one packet strictly: unknown types, short or trailing bytes,
// bad UTF-8 host names and truncated extension records are errors wrapping
// ErrMalformed. Extension packet types (>= 0x80) are returned with their raw
// payload in Data for the extension's own parser.
func Parse(b []byte) (Packet, error) {
	if len(b) < HeaderLen {
		return Packet{}, malformed("%d bytes is shorter than the %d-byte header", len(b), HeaderLen)
	}
	p := Packet{Type: Type(b[0]), StreamID: binary.LittleEndian.Uint32(b[1:5])}
	body := b[HeaderLen:]
	switch p.Type {
	case TypeConnect:
		if len(body) < 3 {
			return p, malformed("CONNECT payload of %d bytes, want at least 3", len(body))
		}
		p.StreamType = StreamType(body[0])
		p.Port = binary.LittleEndian.Uint16(body[1:3])
		host := body[3:]
		if len(host) == 0 {
			return p, malformed("CONNECT without a host name")
		}
		if len(host) > MaxHostLen {
			return p, malformed("CONNECT host name of %d bytes, limit %d", len(host), MaxHostLen)
		}
		if !utf8.Valid(host) {
			return p, malformed("CONNECT host name is not UTF-8")
		}
		p.Host = string(host)
	case TypeData:
		p.Data = body
	case TypeContinue:
		if len(body) != 4 {
			return p, malformed("CONTINUE payload of %d bytes, want 4", len(body))
		}
		p.Credit = binary.LittleEndian.Uint32(body)
	case TypeClose:
		if len(body) != 1 {
			return p, malformed("CLOSE payload of %d bytes, want 1", len(body))
		}
		p.Reason = CloseReason(body[0])
	case TypeInfo:
		if p.StreamID != 0 {
			return p, malformed("INFO on stream %d, want 0", p.StreamID)
		}
		info, err := parseInfo(body)
		if err != nil {
			return p, err
		}
		p.Info = info
	default:
		if p.Type < 0x80 {
			return p, malformed("unknown packet type 0x%02x", uint8(p.Type))
		}
		p.Data = body
	}
	return p, nil
}

func parseInfo(body []byte) (Info, error) {
	if len(body) < 2 {
		return Info{}, malformed("INFO payload of %d bytes, want at least 2", len(body))
	}
	info := Info{Major: body[0], Minor: body[1]}
	rest := body[2:]
	for len(rest) > 0 {
		if len(rest) < 5 {
			return Info{}, malformed("truncated INFO extension header (%d bytes)", len(rest))
		}
		id := ExtensionID(rest[0])
		n := binary.LittleEndian.Uint32(rest[1:5])
		if uint64(n) > uint64(len(rest)-5) {
			return Info{}, malformed("INFO extension 0x%02x claims %d bytes, %d left", uint8(id), n, len(rest)-5)
		}
		for _, e := range info.Extensions {
			if e.ID == id {
				return Info{}, malformed("INFO extension 0x%02x repeated", uint8(id))
			}
		}
		info.Extensions = append(info.Extensions, Extension{ID: id, Payload: rest[5 : 5+n]})
		rest = rest[5+n:]
	}
	return info, nil
}

// Append encodes p onto dst.
func Append(dst []byte, p *Packet) []byte {
	dst = appendHeader(dst, p.Type, p.StreamID)
	switch p.Type {
	case TypeConnect:
		dst = append(dst, byte(p.StreamType))
		dst = binary.LittleEndian.AppendUint16(dst, p.Port)
		dst = append(dst, p.Host...)
	case TypeContinue:
		dst = binary.LittleEndian.AppendUint32(dst, p.Credit)
	case TypeClose:
		dst = append(dst, byte(p.Reason))
	case TypeInfo:
		dst = append(dst, p.Info.Major, p.Info.Minor)
		for _, e := range p.Info.Extensions {
			dst = append(dst, byte(e.ID))
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(e.Payload)))
			dst = append(dst, e.Payload...)
		}
	default: // DATA and extension packets
		dst = append(dst, p.Data...)
	}
	return dst
}

func appendHeader(dst []byte, t Type, id uint32) []byte {
	dst = append(dst, byte(t))
	return binary.LittleEndian.AppendUint32(dst, id)
}

// AppendData encodes a DATA packet without building a Packet.
func AppendData(dst []byte, id uint32, data []byte) []byte {
	return append(appendHeader(dst, TypeData, id), data...)
}

// AppendContinue encodes a CONTINUE packet.
func AppendContinue(dst []byte, id, credit uint32) []byte {
	return binary.LittleEndian.AppendUint32(appendHeader(dst, TypeContinue, id), credit)
}

// AppendClose encodes a CLOSE packet.
func AppendClose(dst []byte, id uint32, r CloseReason) []byte {
	return append(appendHeader(dst, TypeClose, id), byte(r))
}

// PutDataHeader writes a DATA header into b[:HeaderLen], so a reader can
// fill b[HeaderLen:] in place and send b without a copy.
func PutDataHeader(b []byte, id uint32) {
	b[0] = byte(TypeData)
	binary.LittleEndian.PutUint32(b[1:5], id)
}
