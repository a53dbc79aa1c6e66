package wisp

import (
	"encoding/binary"
	"fmt"
	"slices"
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

// ServerOffer is what a relay advertises beyond the extensions every
// sockshim relay speaks (sockshim, half-close, flow control, listen, UDP,
// bound UDP).
type ServerOffer struct {
	WebRTC bool // ExtWebRTC: the relay answers WebRTC offers
	// Password advertises ExtPassword: credentialed apps admit this origin.
	Password bool
	// PasswordRequired: no anonymous app does, so the client must send one.
	PasswordRequired bool
	// Profile, if not nil, is a relay that does less than the native one
	// (the edge, relayprofile.go): its INFO carries ExtRelayProfile and no
	// listener, UDP, bound UDP or WebRTC record.
	Profile *RelayProfile
}

// ServerInfo builds the relay's INFO for o.
func ServerInfo(o ServerOffer) Info {
	info := Info{Major: 2, Minor: 0, Extensions: []Extension{
		{ID: ExtSockshim, Payload: []byte{1}},
		{ID: ExtHalfClose},
		{ID: ExtFlowControl},
		{ID: ExtListen, Payload: []byte{ListenFlagCloseAck}},
		{ID: ExtLiveness},
		{ID: ExtUDP},
		{ID: ExtBoundUDP, Payload: []byte{1}},
		{ID: ExtBroker},
		{ID: ExtTCPControl, Payload: []byte{1}},
		{ID: ExtRelayTLS},
	}}
	if o.Profile != nil {
		info.Extensions = slices.DeleteFunc(info.Extensions, func(e Extension) bool {
			return e.ID == ExtListen || e.ID == ExtUDP || e.ID == ExtBoundUDP || e.ID == ExtBroker || e.ID == ExtTCPControl
		})
		info.Extensions = append(info.Extensions, Extension{ID: ExtRelayProfile, Payload: AppendRelayProfile(nil, *o.Profile)})
		o.WebRTC = false
	}
	if o.WebRTC {
		info.Extensions = append(info.Extensions, Extension{ID: ExtWebRTC, Payload: []byte{1}})
	}
	if o.Password {
		req := byte(0)
		if o.PasswordRequired {
			req = 1
		}
		info.Extensions = append(info.Extensions, Extension{ID: ExtPassword, Payload: []byte{req}})
	}
	return info
}

// ClientInfo builds a sockshim client's INFO: window is its relay-to-client
// byte window per stream (ExtFlowControl); pw, if not nil, is sent only when
// the server offered ExtPassword.
func ClientInfo(server Info, window uint32, pw *Password) (Info, error) {
	info := Info{Major: 2, Minor: 0, Extensions: []Extension{
		{ID: ExtUDP},
		{ID: ExtSockshim, Payload: []byte{1}},
		{ID: ExtHalfClose},
		{ID: ExtFlowControl, Payload: AppendFlowControlInfo(nil, FlowControlInfo{Window: window})},
		{ID: ExtListen},
		{ID: ExtLiveness},
		{ID: ExtBroker},
		{ID: ExtTCPControl, Payload: []byte{1}},
		{ID: ExtRelayTLS},
	}}
	if _, ok := server.Find(ExtPassword); ok && pw != nil {
		b, err := AppendPassword(nil, *pw)
		if err != nil {
			return Info{}, err
		}
		info.Extensions = append(info.Extensions, Extension{ID: ExtPassword, Payload: b})
	}
	return info, nil
}

// Negotiated is the extension set a session runs with: what both ends
// advertised. Both ends compute it with Negotiate from the same two INFOs.
type Negotiated struct {
	UDP       bool // ExtUDP
	Sockshim  bool // ExtSockshim: richer close reasons, OPENED
	HalfClose bool // ExtHalfClose: FIN packets
	Listen    bool // ExtListen: relay-held listeners
	// ListenCloseAck: the relay confirms a listener's CLOSE once its port
	// is free (ListenFlagCloseAck in the relay's ExtListen record).
	ListenCloseAck bool
	Liveness       bool // ExtLiveness: PING/PONG on stream 0
	Broker         bool // ExtBroker: TRANSFER, LIST, RECLAIM (broker.go)
	RelayTLS       bool // ExtRelayTLS: CONNECT with StreamTLS (relaytls.go)
	// TCPControl: ExtTCPControl, CONNECT_OPTIONS and STATS (tcpcontrol.go).
	TCPControl bool
	// Window is the client's relay-to-client byte window per stream
	// (ExtFlowControl on both ends); 0 means off.
	Window uint32
	// Password is the client's credential (ExtPassword), nil if it sent none.
	Password *Password
}

// Negotiate intersects the server's and the client's INFO. A malformed
// record of an extension both sides speak is an error (the relay refuses
// the session: ReasonIncompatible for flow control, ReasonAuthBad for a
// password).
func Negotiate(server, client Info) (Negotiated, error) {
	both := func(id ExtensionID) bool {
		_, a := server.Find(id)
		_, b := client.Find(id)
		return a && b
	}
	n := Negotiated{
		UDP:       both(ExtUDP),
		Sockshim:  both(ExtSockshim),
		HalfClose: both(ExtHalfClose),
		Listen:    both(ExtListen),
		Liveness:  both(ExtLiveness),
		Broker:    both(ExtBroker),
		RelayTLS:  both(ExtRelayTLS),

		TCPControl: both(ExtTCPControl),
	}
	if e, ok := server.Find(ExtListen); ok && n.Listen && len(e.Payload) > 0 {
		n.ListenCloseAck = e.Payload[0]&ListenFlagCloseAck != 0
	}
	if e, ok := client.Find(ExtFlowControl); ok && both(ExtFlowControl) {
		fc, err := ParseFlowControlInfo(e.Payload)
		if err != nil {
			return n, &NegotiationError{Ext: ExtFlowControl, Err: err}
		}
		n.Window = fc.Window
	}
	if e, ok := client.Find(ExtPassword); ok && both(ExtPassword) {
		pw, err := ParsePassword(e.Payload)
		if err != nil {
			return n, &NegotiationError{Ext: ExtPassword, Err: err}
		}
		n.Password = &pw
	}
	return n, nil
}

// NegotiationError is a malformed INFO record.
type NegotiationError struct {
	Ext ExtensionID
	Err error
}

func (e *NegotiationError) Error() string {
	return fmt.Sprintf("wisp: INFO record 0x%02x: %v", uint8(e.Ext), e.Err)
}

func (e *NegotiationError) Unwrap() error { return e.Err }
