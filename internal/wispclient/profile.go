package wispclient

import (
	"errors"
	"fmt"

	"github.com/sockshim/sockshim/internal/wisp"
)

// A relay that cannot do everything (the edge relay on Cloudflare Workers)
// sends sockshim's relay-profile extension; its name goes into the errors of
// what it does not offer, so an app sees who refused and why, at once.

// relayName names the server in errors: the relay profile's name, or "server".
func (s *Session) relayName() string {
	if s.profile != nil && s.profile.Name != "" {
		return s.profile.Name
	}
	return "server"
}

// Profile returns the server's relay profile, if it sent one.
func (s *Session) Profile() (wisp.RelayProfile, bool) {
	if s.profile == nil {
		return wisp.RelayProfile{}, false
	}
	return *s.profile, true
}

func (s *Session) readProfile(info wisp.Info) {
	// Our INFO always lists ExtRelayTLS (wisp.ClientInfo), so the server's
	// record alone decides it.
	_, s.relayTLS = info.Find(wisp.ExtRelayTLS)
	if e, ok := info.Find(wisp.ExtRelayProfile); ok {
		if p, err := wisp.ParseRelayProfile(e.Payload); err == nil {
			s.profile = &p
		}
	}
}

// errNoUDP is the error of a UDP stream the server does not offer.
func (s *Session) errNoUDP() error {
	return fmt.Errorf("wisp: %s does not support UDP streams: %w", s.relayName(), errors.ErrUnsupported)
}

// errNoListen is the error of a listener the server does not offer.
func (s *Session) errNoListen() error {
	if s.profile == nil {
		return ErrNoListen
	}
	return fmt.Errorf("%w: %s cannot hold listeners", ErrNoListen, s.relayName())
}

// closeErr is the error of a stream the server closed with r; a throttled
// stream on a relay with a fixed stream cap says what the cap is.
func (s *Session) closeError(r wisp.CloseReason) error {
	ce := &wisp.CloseError{Reason: r}
	if r == wisp.ReasonThrottled && s.profile != nil && s.profile.MaxStreams > 0 {
		return fmt.Errorf("%w: %s allows %d open streams per session", ce, s.relayName(), s.profile.MaxStreams)
	}
	return ce
}

// RelayTLS reports whether the server does TLS to destinations for its
// clients (wisp.ExtRelayTLS): Open accepts wisp.StreamTLS.
func (s *Session) RelayTLS() bool { return s.relayTLS }

// errNoRelayTLS is the error of a StreamTLS CONNECT to a server that does
// not offer it (nil when it does).
func (s *Session) errNoRelayTLS(typ wisp.StreamType) error {
	if typ != wisp.StreamTLS || s.relayTLS {
		return nil
	}
	return fmt.Errorf("wisp: %s does not do TLS for its clients (TLS stays in the client): %w", s.relayName(), errors.ErrUnsupported)
}
