package relay

import (
	"context"
	"net"
	"net/http"
	"net/netip"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/wisp"
)

// MessageConn is a WebSocket as a session uses it: whole messages and a
// close handshake. *websocket.Conn implements it; the edge build (cmd/edge)
// supplies one over the Workers runtime's own WebSocket, which Go cannot
// hijack. Read must return a websocket.CloseError once the peer closed.
type MessageConn interface {
	Read(ctx context.Context) (websocket.MessageType, []byte, error)
	Write(ctx context.Context, typ websocket.MessageType, p []byte) error
	Close(code websocket.StatusCode, reason string) error
	CloseNow() error
	// Ping checks the peer is alive; a conn whose platform cannot send
	// pings returns nil (the idle timeout still applies).
	Ping(ctx context.Context) error
	// Subprotocol is the one agreed at the upgrade: "wisp-v2" for Wisp v2.
	Subprotocol() string
}

var _ MessageConn = (*websocket.Conn)(nil)

// EdgeOptions run the relay as the Cloudflare Workers build does: outbound
// TCP only, through a platform that resolves and connects in one step.
// With them the relay advertises no UDP, listeners or WebRTC and refuses
// their packets, checks destinations with every rule that needs no name
// resolution (policy CheckUnresolved; docs/SECURITY.md), and caps the
// streams a session holds at once.
type EdgeOptions struct {
	// Name describes the relay to clients (the relay-profile extension),
	// so their errors can say what refused them; e.g. "the edge relay
	// (Cloudflare Workers)".
	Name string
	// Dial opens a TCP connection to host, an IP literal or a name the
	// relay did not resolve, at port; tls asks the platform for TLS to the
	// destination (the relay-TLS stream type). Errors should wrap the
	// syscall errors (ECONNREFUSED...) or policy-style sentinels reasonFor
	// maps; see cmd/edge.
	Dial func(ctx context.Context, host string, port uint16, tls bool) (net.Conn, error)
	// MaxStreamsPerSession caps the streams one session has open at once,
	// below the app's own limit; 0 means no cap (Workers: 6 simultaneous
	// outbound connections per invocation).
	MaxStreamsPerSession int
}

// AdmitUpgrade reports whether a request may open a session before its
// WebSocket is accepted, and if not the HTTP status and text to refuse it
// with; ServeHTTP applies the same rule (an Origin no app admits).
func (s *Server) AdmitUpgrade(r *http.Request) (status int, text string, ok bool) {
	origin, hasOrigin := r.Header["Origin"]
	if hasOrigin && !s.Config().anyAppAdmits(origin[0], true) {
		s.metrics.sessionsDenied.Add(1)
		s.log.Warn("relay: upgrade refused", "reason", "origin_not_allowed", "origin", origin[0], "remote", r.RemoteAddr)
		return http.StatusForbidden, "origin not allowed", false
	}
	return 0, "", true
}

// ServeMessages runs one Wisp session over conn, a WebSocket the caller
// accepted for r (after AdmitUpgrade allowed it), and returns when the
// session has ended and conn is closed.
func (s *Server) ServeMessages(conn MessageConn, r *http.Request) {
	o, hasOrigin := "", false
	if v, ok := r.Header["Origin"]; ok {
		o, hasOrigin = v[0], true
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		conn.Close(websocket.StatusGoingAway, "relay shutting down")
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	sess := newSession(s, conn, o, hasOrigin, r.RemoteAddr)
	s.mu.Lock()
	s.sessions[sess] = struct{}{}
	shutdown := s.shutdown
	s.mu.Unlock()
	if shutdown != nil {
		sess.conn.CloseNow() // as in ServeHTTP: Shutdown's snapshot missed it
	}
	sess.run()
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}

// edgeProfile is the relay profile the edge advertises, nil for the native
// relay.
func (s *Server) edgeProfile() *wisp.RelayProfile {
	e := s.opts.Edge
	if e == nil {
		return nil
	}
	return &wisp.RelayProfile{
		MaxStreams: uint16(min(max(e.MaxStreamsPerSession, 0), 0xffff)),
		Name:       e.Name,
	}
}

// dialEdge connects through EdgeOptions.Dial to a target CheckUnresolved
// allowed: its checked addresses in turn, or its name, left to the platform.
func (st *tcpStream) dialEdge(ctx context.Context, e *EdgeOptions, t policy.Target, tls bool) (net.Conn, error) {
	if _, err := netip.ParseAddr(t.Host); len(t.Addrs) == 0 || tls && err != nil {
		// A name goes to the platform as is; with TLS also a localhost
		// name (decided as loopback), whose certificate names it.
		return e.Dial(ctx, t.Host, t.Port, tls)
	}
	var last error
	for _, a := range t.Addrs {
		c, err := e.Dial(ctx, a.String(), t.Port, tls)
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// messageReadConn is what a session's read loop reads messages from
// (messageReader picks it).
type messageReadConn interface {
	Read(context.Context) (websocket.MessageType, []byte, error)
}
