package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// This file is the only one in shim that knows Wisp: it opens streams,
// listeners and UDP sockets on a wispclient.Session and maps the Wisp
// client's errors (close reasons, missing extensions) into the shim's terms
// at that edge.

// RelayOptions configure RelayTransport.
type RelayOptions struct {
	// AppID and Secret are the app credential registered in the relay's
	// config; sent in the Wisp v2 password extension. Empty means an
	// anonymous app chosen by the page's origin.
	AppID, Secret string
	// Header is sent with the WebSocket handshake natively (for example an
	// Origin); browsers ignore it.
	Header http.Header
	// WispV1 speaks Wisp v1 only: no credential, no extensions.
	WispV1 bool
	// PeerTimeout is how long the session may hear nothing from the relay
	// before it counts the relay as dead: its sockets then fail with
	// SocketErrorConnectionTimedOut. While idle the session asks the relay
	// to answer every PeerTimeout/4 (sockshim's liveness extension, which
	// works in browsers too). Zero means 20 s; negative turns it off.
	PeerTimeout time.Duration
	// Resume configures session resume; nil means on, with the defaults
	// of ResumeOptions. It only happens with a relay that offers it.
	Resume *ResumeOptions
	// OnStatus, if set, is called with every change of the transport's
	// session status (see SessionStatus), one call at a time, in order,
	// from a goroutine of the transport's own: it may block (later events
	// wait for it) and may call the transport (Status, Close).
	OnStatus func(SessionEvent)
}

// ResumeOptions configure session resume (sockshim's Wisp extension 0x5E):
// when the WebSocket under a session is lost, the session reconnects by
// itself within the relay's resume window (60 s by default) and replays
// what the relay had not received, so no byte of a stream is lost or
// repeated; meanwhile sockets' Read and Write wait (their deadlines
// apply). Datagrams are not replayed. The zero value asks for resume with
// the defaults below.
type ResumeOptions struct {
	// Disabled does not ask for resume: a lost WebSocket ends the session
	// and its sockets fail (SocketErrorConnectionResetByPeer and the like).
	Disabled bool
	// ReplayBuffer bounds what the session keeps, unacknowledged, for a
	// replay to the relay, in bytes; when it is full, writes block until
	// the relay acknowledges (backpressure, nothing is dropped). It also
	// bounds the bytes written while reconnecting. Zero means 2 MiB.
	ReplayBuffer int
	// MinBackoff and MaxBackoff bound the wait between reconnect attempts
	// (each doubles the last, jittered by +-50%). Zero means 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
}

// RelayTransport tunnels sockets through the Wisp relay at url (ws:// or
// wss://, ending in "/"). Sockets share one WebSocket session, which is
// established on the first Connect (or bind, or listen) and re-established
// on the next one after it is lost. With a relay that offers session resume
// (see ResumeOptions) a lost WebSocket is reconnected under the same session
// and its sockets go on. A Connect that finds the session dying under it
// retries once on a new session. Sockets of a lost session fail with
// SocketErrorConnectionResetByPeer (the relay dropped or reset the
// connection, or refused the resume), SocketErrorSoftwareCausedConnectionAbort
// (it closed the session) or SocketErrorConnectionTimedOut (it stopped
// answering, see RelayOptions.PeerTimeout); errors.Is sees the cause.
// Status and RelayOptions.OnStatus say which of these is happening.
func RelayTransport(url string, opts *RelayOptions) *Relay {
	t := &Relay{url: url}
	if opts != nil {
		t.opts = *opts
		if opts.Resume != nil {
			r := *opts.Resume
			t.opts.Resume = &r
		}
	}
	t.closing, t.cancel = context.WithCancel(context.Background())
	return t
}

// Relay is the Transport RelayTransport returns: sockets tunnelled through
// one relay endpoint, over one session at a time.
type Relay struct {
	url     string
	opts    RelayOptions
	closing context.Context // cancelled by Close: ends a dial in progress
	cancel  context.CancelFunc

	mu     sync.Mutex
	sess   *wispclient.Session
	gen    uint64 // sessions dialled so far (the current one's number)
	closed bool

	status relayStatus // relaystatus.go
}

// relayTransport is the Relay's former name, kept for the shim's own
// files that use it.
type relayTransport = Relay

// errTransportClosed is what sockets of a closed Relay report; GetStatus
// says SocketErrorOperationAborted.
var (
	errTransportClosedCause = errors.New("shim: the relay transport was closed")
	errTransportClosed      = fmt.Errorf("%w: %w", errTransportClosedCause, net.ErrClosed)
)

// Close ends the transport's session, so every socket on it fails with an
// error wrapping net.ErrClosed (SocketErrorOperationAborted), cancels a
// session being established, and releases the session's goroutines. Later
// Connects (binds, listens) fail the same way. OnStatus then hears
// SessionClosed, once. Close is idempotent; it waits at most 2 s for a
// relay that does not answer (a dead network).
func (t *Relay) Close() error {
	t.cancel()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	s := t.sess
	t.sess = nil
	t.mu.Unlock()
	if s != nil {
		s.CloseWithError(errTransportClosedCause)
	}
	t.status.closed(t)
	return nil
}

func (t *Relay) String() string { return "relay " + t.url }

// capabilities: the relay sets its own TCP options, and proxies are its
// business.
func (t *Relay) capabilities() transportCaps { return transportCaps{} }

func (t *Relay) session(ctx context.Context) (*wispclient.Session, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, statusErr(SocketErrorOperationAborted, errTransportClosed)
	}
	if t.sess != nil {
		select {
		case <-t.sess.Done():
			t.sess = nil
		default:
			return t.sess, nil
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.closing, cancel)()
	t.gen++
	s, err := wispclient.Dial(ctx, t.url, t.wispOptions(t.gen))
	if err != nil {
		if t.closing.Err() != nil {
			return nil, statusErr(SocketErrorOperationAborted, errTransportClosed)
		}
		return nil, relayErr(err)
	}
	t.sess = s
	return s, nil
}

// wispOptions are the session options of the transport's gen-th session.
func (t *Relay) wispOptions(gen uint64) *wispclient.Options {
	o := &wispclient.Options{
		AppID: t.opts.AppID, Secret: t.opts.Secret, Header: t.opts.Header, V1: t.opts.WispV1,
		PeerTimeout: t.opts.PeerTimeout,
		OnStatus: func(st wispclient.Status, cause error) {
			t.status.session(t, gen, st, cause)
		},
	}
	if r := t.opts.Resume; r != nil {
		o.Resume = wispclient.ResumeOptions{Disabled: r.Disabled, Buffer: r.ReplayBuffer,
			MinBackoff: r.MinBackoff, MaxBackoff: r.MaxBackoff}
	}
	return o
}

// onSession runs open on the transport's session. When the session dies
// under it (the relay was killed or went silent and the session only
// noticed now), it drops that session and runs open once more on a new
// one: a new Connect never gets a dying session's error.
func onSession[T any](t *Relay, ctx context.Context, open func(*wispclient.Session) (T, error)) (T, error) {
	for try := 0; ; try++ {
		var zero T
		s, err := t.session(ctx)
		if err != nil {
			return zero, err
		}
		v, err := open(s)
		if err == nil || try > 0 || ctx.Err() != nil || !errors.Is(err, wispclient.ErrSessionLost) || errors.Is(err, net.ErrClosed) {
			return v, err
		}
		t.drop(s)
	}
}

// drop forgets s if it is still the transport's session.
func (t *Relay) drop(s *wispclient.Session) {
	t.mu.Lock()
	if t.sess == s {
		t.sess = nil
	}
	t.mu.Unlock()
	s.Close()
}

func (t *Relay) dialStream(ctx context.Context, host *HostName, port uint16, o streamOptions) (net.Conn, error) {
	st, err := onSession(t, ctx, func(s *wispclient.Session) (*wispclient.Stream, error) {
		// Options travel in CONNECT_OPTIONS; a relay without sockshim's TCP
		// control extension fails non-default ones with ErrNotSupported
		// (wispclient.ErrNoTCPControl), never ignoring them.
		return s.OpenTCP(ctx, host.CanonicalName(), port, wisp.TCPOptions{SendBuffer: o.sendBuffer, HopLimit: o.hopLimit, Serialize: o.serialize})
	})
	if err != nil {
		return nil, relayErr(err)
	}
	return relayConn{st}, nil
}

// relayConn is a relayed TCP connection whose errors are mapped.
type relayConn struct{ *wispclient.Stream }

func (c relayConn) Read(b []byte) (int, error) {
	n, err := c.Stream.Read(b)
	return n, relayErr(err)
}

func (c relayConn) Write(b []byte) (int, error) {
	n, err := c.Stream.Write(b)
	return n, relayErr(err)
}

// CloseWrite half-closes through sockshim's half-close extension; a relay
// without it fails with ErrNotSupported.
func (c relayConn) CloseWrite() error { return relayErr(c.Stream.CloseWrite()) }

func (c relayConn) Close() error { return relayErr(c.Stream.Close()) }

func (t *Relay) listenStream(ctx context.Context, host string, port uint16, o listenOptions) (streamListener, error) {
	var flags uint8
	if o.keepAlive {
		flags |= wisp.ListenKeepAlive
	}
	if o.noDelay {
		flags |= wisp.ListenNoDelay
	}
	if o.lowLatency {
		flags |= wisp.ListenLowLatency
	}
	opts := wisp.ListenOptions{SendBuffer: o.sendBuffer, HopLimit: o.hopLimit}
	l, err := onSession(t, ctx, func(s *wispclient.Session) (*wispclient.Listener, error) {
		return s.ListenOptions(ctx, host, port, flags, opts)
	})
	if err != nil {
		return nil, relayErr(err)
	}
	return relayListener{l}, nil
}

// relayListener is a listener held by the relay.
type relayListener struct{ l *wispclient.Listener }

func (r relayListener) accept() (net.Conn, error) {
	st, err := r.l.Accept(context.Background())
	if err != nil {
		return nil, relayErr(err)
	}
	return relayConn{st}, nil
}

func (r relayListener) close() error {
	if err := r.l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return relayErr(err)
	}
	return nil
}
func (r relayListener) addr() net.Addr { return r.l.Addr() }
func (r relayListener) reachable() (string, uint16) {
	b := r.l.Bound()
	return b.ReachableHost, b.ReachablePort
}

func (t *Relay) datagram(ctx context.Context, req *datagramRequest) (datagramConn, error) {
	s, err := t.session(ctx)
	if err != nil {
		return nil, err
	}
	needsExt := req.remoteHost == "" || !req.opts.isZero() || req.reuse
	if needsExt && !s.Extension(wisp.ExtBoundUDP) {
		what := "socket options"
		if req.remoteHost == "" {
			what = "bound (unconnected) sockets"
		}
		relay := "this relay"
		if p, ok := s.Profile(); ok && p.Name != "" {
			relay = p.Name // the edge relay names itself
		}
		return nil, errf("UDP %s through %s: %w (it does not offer sockshim's bound UDP extension)", what, relay, ErrNotSupported)
	}
	c, err := onSession(t, ctx, func(ns *wispclient.Session) (*wispclient.UDPConn, error) {
		s = ns
		if req.remoteHost != "" {
			return s.DialUDP(ctx, req.remoteHost, req.remotePort)
		}
		return s.BindUDP(ctx, req.local, req.reuse)
	})
	if err != nil {
		return nil, relayErr(err)
	}
	if req.opts.inboundBuffer > 0 {
		c.SetInboundBuffer(int(req.opts.inboundBuffer))
	}
	if !req.opts.isZero() {
		o := wisp.UDPOptions{HopLimit: req.opts.hopLimit, DontFragment: req.opts.dontFragment, ReceiveBuffer: req.opts.inboundBuffer}
		if err := c.SetOptions(ctx, o); err != nil {
			c.Close()
			return nil, relayErr(err)
		}
	}
	if req.lowLatency {
		s.UseDataChannel(c) // in the background; the WebSocket carries datagrams until it opens
	}
	return relayDatagram{c}, nil
}

// relayDatagram is a UDP socket at the relay.
type relayDatagram struct{ c *wispclient.UDPConn }

func (d relayDatagram) readFrom(b []byte) (int, netip.AddrPort, error) {
	n, ap, err := d.c.ReadFrom(b)
	return n, ap, relayErr(err)
}
func (d relayDatagram) write(b []byte) (int, error) {
	n, err := d.c.Write(b)
	return n, relayErr(err)
}
func (d relayDatagram) writeTo(b []byte, ap netip.AddrPort) (int, error) {
	n, err := d.c.WriteTo(b, ap)
	return n, relayErr(err)
}
func (d relayDatagram) writeToHost(_ context.Context, b []byte, host string, port uint16) (int, error) {
	n, err := d.c.WriteToHost(b, host, port)
	return n, relayErr(err)
}
func (d relayDatagram) join(ctx context.Context, g netip.Addr) error {
	return relayErr(d.c.Join(ctx, g))
}
func (d relayDatagram) local() netip.AddrPort {
	o, _ := d.c.Endpoints()
	return o.Local
}
func (d relayDatagram) remote() netip.AddrPort {
	o, _ := d.c.Endpoints()
	return o.Remote
}
func (d relayDatagram) setReadDeadline(t time.Time) error  { return d.c.SetReadDeadline(t) }
func (d relayDatagram) setWriteDeadline(t time.Time) error { return d.c.SetWriteDeadline(t) }
func (d relayDatagram) close() error                       { return relayErr(d.c.Close()) }

// relayErr maps an error of the Wisp client into the shim's terms, keeping
// it in the chain: a relay's close reason becomes a SocketErrorStatus (and a
// policy denial ErrAccessDenied), a missing extension ErrNotSupported.
// Errors Wisp does not explain (deadlines, a closed socket) pass unchanged.
func relayErr(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var ee *edgeError
	if errors.As(err, &ee) {
		return err
	}
	var ce *wisp.CloseError
	if errors.As(err, &ce) {
		switch ce.Reason {
		case wisp.ReasonBlocked:
			return &edgeError{status: SocketErrorUnknown, kind: ErrAccessDenied, detail: "relay: " + ce.Reason.String(), err: err}
		case wisp.ReasonInvalid:
			return &edgeError{status: SocketErrorUnknown, kind: ErrInvalidArgument, err: err}
		}
		return statusErr(closeStatus(ce.Reason), err)
	}
	var he *wispclient.HandshakeError
	switch {
	case errors.As(err, &he):
		return statusErr(SocketErrorUnknown, err)
	case errors.Is(err, wispclient.ErrMessageTooLong):
		return statusErr(SocketErrorMessageTooLong, err)
	case errors.Is(err, wispclient.ErrNoListen), errors.Is(err, wispclient.ErrNoHalfClose),
		errors.Is(err, errors.ErrUnsupported):
		return &edgeError{status: SocketErrorUnknown, kind: ErrNotSupported, err: err}
	}
	return err
}

// closeStatus is the status a Wisp close reason stands for.
func closeStatus(r wisp.CloseReason) SocketErrorStatus {
	switch r {
	case wisp.ReasonTimeout, wisp.ReasonDataTimeout:
		return SocketErrorConnectionTimedOut
	case wisp.ReasonRefused:
		return SocketErrorConnectionRefused
	case wisp.ReasonUnreachable:
		return SocketErrorUnreachableHost
	case wisp.ReasonNetUnreachable:
		return SocketErrorNetworkIsUnreachable
	case wisp.ReasonHostNotFound:
		return SocketErrorHostNotFound
	case wisp.ReasonReset, wisp.ReasonNetworkError:
		return SocketErrorConnectionResetByPeer
	case wisp.ReasonUnknown, wisp.ReasonShutdown: // the relay aborted the stream
		return SocketErrorSoftwareCausedConnectionAbort
	case wisp.ReasonAddrInUse:
		return SocketErrorAddressAlreadyInUse
	case wisp.ReasonTLSFailed: // relay TLS (relaytls.go)
		return SocketErrorCertificateIsInvalid
	}
	return SocketErrorUnknown
}
