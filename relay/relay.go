// Package relay is the sockshim relay as a library: a Wisp v1/v2 WebSocket
// endpoint that opens real TCP connections for browser apps, deciding every
// destination with the app's network capabilities (internal/policy).
package relay

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/cork"
	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/wisp"
)

// Dialer opens outbound connections; *net.Dialer implements it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Binder opens the TCP listeners apps ask for; *net.ListenConfig implements
// it. Tests inject one to present peers from addresses loopback cannot.
type Binder interface {
	Listen(ctx context.Context, network, address string) (net.Listener, error)
}

// Options configure a Server. A nil *Options, and zero fields, mean defaults.
type Options struct {
	// Config is the app policy; nil means no apps (no client gets network).
	Config *Config
	// Resolver looks up destination host names; nil means Go's pure-Go
	// resolver (*net.Resolver implements Resolver). Tests inject one that
	// lies.
	Resolver Resolver
	// ResolveTimeout bounds each lookup; default 5 s. A lookup that fails
	// or times out denies the destination (fail closed).
	ResolveTimeout time.Duration
	// SelfAddrs are the addresses at which the relay is reachable (its
	// listeners, and any NAT or load balancer in front of it): destinations
	// there are always denied, so nobody loops through the relay. An
	// unspecified address (0.0.0.0:P, [::]:P) stands for every local
	// address at port P.
	SelfAddrs []netip.AddrPort
	// DenyNames are host names denied before any lookup, each with every
	// name under it ("example.com" denies "a.example.com").
	DenyNames []string
	// AllowPorts and DenyPorts are destination port rules for connect,
	// datagram and ICE, as "80, 443, 8000-8100": a port in DenyPorts is
	// denied; if AllowPorts is set only its ports pass; 25 is denied unless
	// AllowPorts names it. New panics on a malformed list.
	AllowPorts, DenyPorts string
	// NAT64Prefixes are the network-specific NAT64 prefixes of the relay's
	// network (RFC 6052); addresses in them are decided as the IPv4 address
	// they embed. The well-known prefix needs no entry.
	NAT64Prefixes []netip.Prefix
	// OnDecision, if not nil, is called for every policy decision, allowed
	// or denied, after the relay has logged and counted it. It must be fast
	// and safe for concurrent use.
	OnDecision func(Decision)
	// Dialer opens TCP connections to checked addresses; nil means a
	// net.Dialer whose ControlContext re-checks each address (a second gate).
	Dialer Dialer
	// Logger, nil means slog.Default().
	Logger *slog.Logger
	// StreamCredit is the number of DATA packets a client may have
	// outstanding per stream (the Wisp CONTINUE buffer); default 32. With
	// MaxMessage it bounds what one stream can make the relay buffer.
	StreamCredit uint32
	// MaxMessage is the largest WebSocket message accepted; larger ones close
	// the session with status 1009. Default 1 MiB + header: plain Wisp
	// clients send each write as one DATA packet, whatever its size.
	MaxMessage int64
	// DialTimeout bounds each outbound connect; default 10 s.
	DialTimeout time.Duration
	// MaxStreams bounds the streams open at once on the whole relay;
	// default 65536. Per-app limits are in the config (Limits).
	MaxStreams int
	// HandshakeTimeout bounds the Wisp handshake (the client's INFO);
	// default 5 s, as the Wisp specification suggests.
	HandshakeTimeout time.Duration
	// PeerTimeout is how soon a dead client is noticed: the relay pings
	// each client every PeerTimeout/2 and ends the session when a ping is
	// not answered within PeerTimeout/2. Default 20 s.
	PeerTimeout time.Duration
	// IdleTimeout ends a session that has had no streams and no traffic
	// for this long; default 5 min.
	IdleTimeout time.Duration
	// Binder opens listeners for apps (after the policy allowed the
	// address); nil means a net.ListenConfig.
	Binder Binder
	// WebRTC enables data channels for DatagramSockets (webrtc.go); nil
	// means off.
	WebRTC *WebRTCOptions
	// Resume configures session resume (resume.go); nil means defaults:
	// on, for the clients that ask for it.
	Resume *ResumeOptions
	// Edge, if not nil, runs the relay as the Cloudflare Workers build does
	// (msgconn.go); nil means the native relay.
	Edge *EdgeOptions
	// RelayTLSRoots are the roots a destination's certificate is verified
	// against when a client asks the relay for TLS (wisp.StreamTLS,
	// relaytls.go); nil means the system's (natively SSL_CERT_FILE and
	// SSL_CERT_DIR apply). The edge build ignores it: the Workers runtime
	// verifies with its own.
	RelayTLSRoots *x509.CertPool
}

// Resolver looks up host names; *net.Resolver implements it. It must honour
// ctx's deadline.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Decision is one policy decision, as reported to Options.OnDecision.
type Decision struct {
	App     string     // the app id, "" for a session without an app
	Op      string     // connect, datagram, bind, accept or ice
	Allowed bool       //
	Reason  string     // why, as in sockshim_policy_decisions_total{reason}: "allowed", "loopback_not_exempt", ...
	Host    string     // as the client gave it
	Port    uint16     //
	Addr    netip.Addr // the address that decided, if any
}

// Server is a relay. Use Handler to serve it.
type Server struct {
	opts   Options
	cfg    atomic.Pointer[Config]
	engine *policy.Engine
	dialer Dialer
	log    *slog.Logger

	metrics      metrics
	registry     registry // metrics_notjs.go; none in the js (edge) build
	streamsTotal atomic.Int64
	usageMu      sync.Mutex
	apps         map[string]*appUsage // by app id
	rtc          rtcServer            // webrtc.go
	res          serverResume         // resume.go
	broker       *broker              // broker.go
	dcDatagrams  atomic.Int64         // datagrams received from clients on data channels

	mu       sync.Mutex
	sessions map[*session]struct{}
	closing  bool
	shutdown *shutdownState // set by Shutdown
	wg       sync.WaitGroup
}

// New returns a Server.
func New(opts *Options) *Server {
	s := &Server{sessions: map[*session]struct{}{}, apps: map[string]*appUsage{}}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.StreamCredit == 0 {
		s.opts.StreamCredit = 32
	}
	if s.opts.MaxMessage == 0 {
		s.opts.MaxMessage = 1<<20 + wisp.HeaderLen
	}
	if s.opts.DialTimeout == 0 {
		s.opts.DialTimeout = 10 * time.Second
	}
	if s.opts.MaxStreams <= 0 {
		s.opts.MaxStreams = 65536
	}
	if s.opts.HandshakeTimeout <= 0 {
		s.opts.HandshakeTimeout = 5 * time.Second
	}
	if s.opts.PeerTimeout <= 0 {
		s.opts.PeerTimeout = 20 * time.Second
	}
	if s.opts.IdleTimeout <= 0 {
		s.opts.IdleTimeout = 5 * time.Minute
	}
	s.res.init(s.opts.Resume)
	s.log = s.opts.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.engine = s.newEngine()
	s.dialer = s.opts.Dialer
	s.broker = newBroker(s)
	s.registry = s.newRegistry()
	cfg := s.opts.Config
	if cfg == nil {
		cfg = &Config{}
	}
	s.cfg.Store(cfg)
	return s
}

// Config returns the current app policy.
func (s *Server) Config() *Config { return s.cfg.Load() }

// Handler serves the Wisp endpoint at /wisp/ and a health check at /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/wisp/", s)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	return mux
}

// ServeHTTP upgrades a request to a Wisp session.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin, hasOrigin := r.Header["Origin"]
	o := ""
	if hasOrigin {
		o = origin[0]
		if !s.Config().anyAppAdmits(o, true) {
			s.metrics.sessionsDenied.Add(1)
			s.log.Warn("relay: upgrade refused", "reason", "origin_not_allowed", "origin", o, "remote", r.RemoteAddr)
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	var hj *corkHijacker
	if _, ok := w.(http.Hijacker); ok {
		hj = &corkHijacker{ResponseWriter: w}
		w = hj
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       []string{"wisp-v2"},
		InsecureSkipVerify: true, // origins were checked above, scheme included
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return
	}
	conn.SetReadLimit(s.opts.MaxMessage)
	sess := newSession(s, conn, o, hasOrigin, r.RemoteAddr)
	if hj != nil {
		sess.out = hj.conn
	}
	s.mu.Lock()
	s.sessions[sess] = struct{}{}
	shutdown := s.shutdown
	s.mu.Unlock()
	if shutdown != nil {
		// Shutdown began between the check above and now: this session is
		// not in its snapshot, so it ends here.
		sess.conn.CloseNow()
	}
	sess.run()
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}

// corkHijacker hands coder/websocket a cork.Conn under its writer, so the
// session can coalesce frames (see session.write).
type corkHijacker struct {
	http.ResponseWriter
	conn *cork.Conn
}

func (h *corkHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := h.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		c.Close()
		return nil, nil, err
	}
	h.conn = cork.New(c)
	brw.Writer.Reset(h.conn)
	// brw.Reader keeps what the server read past the request; coder/websocket
	// re-points it at the returned conn after those bytes.
	return h.conn, brw, nil
}

// Stats is a snapshot of what the relay holds.
type Stats struct {
	Sessions  int // open WebSocket sessions
	Streams   int // open streams, relay-initiated ones included
	Listeners int // listeners bound or binding for apps

	// BufferedBytes is stream data in relay memory: client data queued for
	// destinations (at most StreamCredit packets per stream) plus data read
	// from destinations and not yet written to a WebSocket (at most 64 KiB
	// per stream).
	BufferedBytes int64
	// MaxStreamBufferedBytes is the largest BufferedBytes of one stream.
	MaxStreamBufferedBytes int64
	// InFlightBytes is DATA payload sent on flow-controlled streams that
	// the clients have not granted back yet: in transit, or buffered in the
	// client unread. Per stream it never exceeds the client's window.
	InFlightBytes int64
	// MaxStreamInFlightBytes is the largest InFlightBytes of one stream.
	MaxStreamInFlightBytes int64

	// DataChannelDatagrams counts the datagrams clients have sent over
	// WebRTC data channels since the relay started (the rest came over
	// WebSockets).
	DataChannelDatagrams int64
}

// Stats returns a snapshot of the relay's sessions, streams and buffers.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	st := Stats{Sessions: len(sessions), DataChannelDatagrams: s.dcDatagrams.Load()}
	for _, sess := range sessions {
		sess.mu.Lock()
		st.Streams += len(sess.table.m) - sess.table.listeners
		st.Listeners += sess.table.listeners
		for _, m := range sess.table.m {
			ts := m.tcp
			if ts == nil {
				continue
			}
			b, f := ts.buffered(), ts.inFlight()
			st.BufferedBytes += b
			st.InFlightBytes += f
			st.MaxStreamBufferedBytes = max(st.MaxStreamBufferedBytes, b)
			st.MaxStreamInFlightBytes = max(st.MaxStreamInFlightBytes, f)
		}
		sess.mu.Unlock()
	}
	return st
}

// anyAppAdmits reports whether some app accepts this origin.
func (c *Config) anyAppAdmits(origin string, hasOrigin bool) bool {
	for i := range c.Apps {
		if c.Apps[i].admits(origin, hasOrigin) {
			return true
		}
	}
	return false
}

func (a *AppConfig) admits(origin string, hasOrigin bool) bool {
	if !hasOrigin {
		return a.AllowNoOrigin
	}
	for _, p := range a.Origins {
		if matchOrigin(p, origin) {
			return true
		}
	}
	return false
}

// authenticate picks the session's app. pw is nil when the client sent no
// credential. It returns a close reason when the session must be refused,
// and a nil app with no reason when the client simply has no app.
func (c *Config) authenticate(origin string, hasOrigin bool, pw *wisp.Password) (*AppConfig, wisp.CloseReason) {
	if pw != nil {
		for i := range c.Apps {
			a := &c.Apps[i]
			if a.ID != pw.User || a.Secret == "" {
				continue
			}
			if subtle.ConstantTimeCompare([]byte(a.Secret), []byte(pw.Password)) != 1 || !a.admits(origin, hasOrigin) {
				return nil, wisp.ReasonAuthBad
			}
			return a, 0
		}
		return nil, wisp.ReasonAuthBad
	}
	needsCredential := false
	for i := range c.Apps {
		a := &c.Apps[i]
		if !a.admits(origin, hasOrigin) {
			continue
		}
		if a.Secret == "" {
			return a, 0
		}
		needsCredential = true
	}
	if needsCredential {
		return nil, wisp.ReasonAuthRequired
	}
	return nil, 0
}

// wantsCredential reports whether credentialed apps admit this origin, and
// whether one is required (no anonymous app does).
func (c *Config) wantsCredential(origin string, hasOrigin bool) (offer, required bool) {
	anon := false
	for i := range c.Apps {
		a := &c.Apps[i]
		if !a.admits(origin, hasOrigin) {
			continue
		}
		if a.Secret == "" {
			anon = true
		} else {
			offer = true
		}
	}
	return offer, offer && !anon
}
