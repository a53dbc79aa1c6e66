package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockshim/sockshim/internal/netutil"
	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/tcpctl"
	"github.com/sockshim/sockshim/internal/udpsock"
	"github.com/sockshim/sockshim/internal/wisp"
)

// The socket broker (wisp.ExtBroker, WinRT's SocketActivityTrigger model):
// a session hands an open TCP stream or listener to the relay, which holds
// it outside every session and WebSocket, on a lease. What arrives while it
// is held is buffered up to a bound, past which the broker stops reading the
// source (TCP flow control pushes the peer back; nothing is dropped). A held
// listener goes on accepting, and holds each connection it accepts. A later
// session of the same app (credential or origin, as the handshake decides
// it) lists what is held and reclaims it; no other app sees it.

// BrokerConfig bounds what the broker holds for one app. Zero fields mean
// the defaults given.
type BrokerConfig struct {
	// Disabled refuses every transfer of the app (ReasonBlocked).
	Disabled bool `json:"disabled,omitempty"`
	// TTLSeconds is the lease of a held socket: it is closed this long after
	// its transfer unless reclaimed (a LIST by the app renews the lease of
	// what it lists). Default 600 (10 minutes). A socket transferred with a
	// keep-alive time has its lease renewed at each keep-alive tick, to the
	// keep-alive time plus TTLSeconds, but never past MaxLeaseSeconds after
	// the app's last contact (the transfer, or a LIST).
	TTLSeconds int `json:"ttlSeconds,omitempty"`
	// MaxLeaseSeconds caps how long keep-alive ticks keep a socket held
	// without the app; default 3600 (an hour), at least TTLSeconds.
	MaxLeaseSeconds int `json:"maxLeaseSeconds,omitempty"`
	// MaxSockets held at once for the app, connections held listeners
	// accepted included; default 64.
	MaxSockets int `json:"maxSockets,omitempty"`
	// MaxBytesPerSocket buffered for one held socket; default 1 MiB.
	MaxBytesPerSocket int64 `json:"maxBytesPerSocket,omitempty"`
	// MaxBytes buffered across the app's held sockets; default 16 MiB.
	MaxBytes int64 `json:"maxBytes,omitempty"`
	// Push, if set, activates the app by Web Push (broker_push.go).
	Push *PushConfig `json:"push,omitempty"`
}

func (c BrokerConfig) withDefaults() BrokerConfig {
	if c.TTLSeconds <= 0 {
		c.TTLSeconds = 600
	}
	if c.MaxSockets <= 0 {
		c.MaxSockets = 64
	}
	if c.MaxLeaseSeconds <= 0 {
		c.MaxLeaseSeconds = 3600
	}
	c.MaxLeaseSeconds = max(c.MaxLeaseSeconds, c.TTLSeconds)
	if c.MaxBytesPerSocket <= 0 {
		c.MaxBytesPerSocket = 1 << 20
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 16 << 20
	}
	return c
}

func (c BrokerConfig) validate() error {
	if c.TTLSeconds < 0 || c.MaxLeaseSeconds < 0 || c.MaxSockets < 0 || c.MaxBytesPerSocket < 0 || c.MaxBytes < 0 {
		return errors.New("broker: negative value")
	}
	return c.Push.validate()
}

// heldReadSize is the most one held socket reads at once.
const heldReadSize = 32 << 10

// handoffTimeout bounds how long a transfer waits for a stream's queued
// client data to reach the destination and for its reader to stop.
const handoffTimeout = 10 * time.Second

type broker struct {
	srv *Server

	mu      sync.Mutex
	apps    map[string]*brokerApp
	pending map[pendingKey]*held             // transferred streams whose UNREAD is still coming
	subs    map[string]wisp.PushSubscription // by app id (broker_push.go)
	closed  bool
	wg      sync.WaitGroup

	stopCtx context.Context // ends at shutdown: pushes in flight stop
	stop    context.CancelFunc

	sockets   atomic.Int64 // held now
	bytes     atomic.Int64 // buffered now
	transfers atomic.Int64 // accepted transfers
	reclaims  atomic.Int64
	expired   atomic.Int64
	refused   atomic.Int64 // transfers refused (limits, ids in use, bad state)
	accepted  atomic.Int64 // connections held listeners accepted

	droppedDatagrams atomic.Int64 // datagrams held UDP sockets dropped past their bounds (broker_udp.go)

	pushes, pushFailures atomic.Int64
}

type pendingKey struct {
	s  *session
	id uint32
}

type brokerApp struct {
	sockets map[string]*held
	bytes   int64         // buffered (and reserved for reads in progress)
	space   chan struct{} // closed and replaced when bytes are given back
}

// held is one socket the broker holds.
type held struct {
	b      *broker
	app    string
	cfg    BrokerConfig
	kind   wisp.HeldKind
	id     string
	task   string
	ctx    []byte
	flags  uint8          // listener: wisp.Listen flags for accepted connections
	opts   tcpctl.Options // listener: LISTEN_OPTIONS' socket options (tcpcontrol.go)
	active bool           // listed and reclaimable (guarded by b.mu)

	conn  net.Conn        // stream
	ln    net.Listener    // listener
	udp   *udpsock.Socket // datagram socket (broker_udp.go)
	bound bool            // datagram: unconnected

	mu     sync.Mutex
	reason wisp.HeldReason
	unread []byte // the client's unread bytes (UNREAD), first
	buf    []byte // read while held
	// A datagram socket's: the client's unread datagrams, then those
	// received while held, their bytes, and how many were dropped.
	unreadDgrams, dgrams []heldDatagram
	dgramBytes           int
	dropped              int
	peerClosed           bool
	stopping             bool
	children             int
	pushed               map[wisp.HeldReason]time.Time // the last push per reason (broker_push.go)

	unreadDone *netutil.Once // the last UNREAD came, or it never will
	stop       *netutil.Once // reclaim, expiry or shutdown
	loopDone   chan struct{} // the reader or accept loop returned
	lease      *time.Timer
	keepAlive  *time.Ticker
	keepEvery  time.Duration // the keep-alive time; 0: none
	contact    time.Time     // the app's last contact: transfer or LIST (guarded by b.mu)
}

func newBroker(srv *Server) *broker {
	b := &broker{srv: srv, apps: map[string]*brokerApp{}, pending: map[pendingKey]*held{}, subs: map[string]wisp.PushSubscription{}}
	b.stopCtx, b.stop = context.WithCancel(context.Background())
	return b
}

func (b *broker) app(id string) *brokerApp {
	a := b.apps[id]
	if a == nil {
		a = &brokerApp{sockets: map[string]*held{}, space: make(chan struct{})}
		b.apps[id] = a
	}
	return a
}

// reserve admits a new held socket for app under socketID (not yet active);
// a zero reason means admitted.
func (b *broker) reserve(appID string, cfg BrokerConfig, h *held) wisp.CloseReason {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return wisp.ReasonShutdown
	}
	a := b.app(appID)
	if _, used := a.sockets[h.id]; used {
		return wisp.ReasonInvalid
	}
	if len(a.sockets) >= cfg.MaxSockets {
		b.srv.metrics.throttled.Add(1)
		return wisp.ReasonThrottled
	}
	a.sockets[h.id] = h
	b.sockets.Add(1)
	return 0
}

// drop removes h and gives back what it holds; false if it was gone.
func (b *broker) drop(h *held) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.apps[h.app]
	if a == nil || a.sockets[h.id] != h {
		return false
	}
	delete(a.sockets, h.id)
	h.mu.Lock()
	n := int64(h.heldBytesLocked())
	h.mu.Unlock()
	a.bytes -= n
	b.bytes.Add(-n)
	b.sockets.Add(-1)
	close(a.space)
	a.space = make(chan struct{})
	if len(a.sockets) == 0 && a.bytes == 0 {
		delete(b.apps, h.app)
	}
	return true
}

// appConfig is the session's app and its broker settings; nil when the
// session has no app or its app may not transfer.
func (s *session) brokerConfig() (*AppConfig, BrokerConfig, wisp.CloseReason) {
	as := s.app()
	if as.cfg == nil || as.cfg.Broker.Disabled {
		return nil, BrokerConfig{}, wisp.ReasonBlocked
	}
	return as.cfg, as.cfg.Broker.withDefaults(), 0
}

// brokerPacket handles TRANSFER, UNREAD, LIST and RECLAIM; it runs on the
// session reader.
func (s *session) brokerPacket(p *wisp.Packet) {
	b := s.srv.broker
	switch p.Type {
	case wisp.TypeTransfer:
		s.transfer(p)
	case wisp.TypeUnread:
		last, data, err := wisp.ParseUnread(p.Data)
		b.mu.Lock()
		h := b.pending[pendingKey{s, p.StreamID}]
		if h != nil && (last || err != nil) {
			delete(b.pending, pendingKey{s, p.StreamID})
		}
		if h != nil && err == nil && h.kind == wisp.HeldDatagram && !last {
			b.unreadDatagram(h, data) // broker_udp.go
		} else if h != nil && err == nil && len(data) > 0 {
			h.mu.Lock()
			h.unread = append(h.unread, data...)
			h.mu.Unlock()
			if a := b.apps[h.app]; a != nil {
				a.bytes += int64(len(data))
			}
			b.bytes.Add(int64(len(data)))
		}
		b.mu.Unlock()
		if h != nil && (last || err != nil) {
			h.unreadDone.Close()
			r := wisp.CloseReason(0) // the transfer is complete
			if err != nil {
				r = wisp.ReasonInvalid
			}
			s.write(wisp.AppendTransferred(nil, p.StreamID, r))
		}
	case wisp.TypeList:
		nonce, err := wisp.ParseList(p.Data)
		if err != nil || p.StreamID != 0 {
			return
		}
		s.write(wisp.AppendHeld(nil, wisp.Held{Nonce: nonce, Sockets: b.list(s.app().id())}))
	case wisp.TypeReclaim:
		s.reclaim(p)
	case wisp.TypePushSubscribe:
		s.subscribe(p) // broker_push.go
	}
}

// list is what the broker holds for app; each listed lease is renewed.
func (b *broker) list(appID string) []wisp.HeldSocket {
	if appID == "" {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.apps[appID]
	if a == nil {
		return nil
	}
	out := make([]wisp.HeldSocket, 0, len(a.sockets))
	for _, h := range a.sockets {
		if !h.active {
			continue
		}
		h.mu.Lock()
		out = append(out, wisp.HeldSocket{Kind: h.kind, Reason: h.reason, SocketID: h.id, TaskID: h.task,
			Buffered: uint32(h.heldBytesLocked()), Context: h.ctx})
		h.mu.Unlock()
		h.contact = time.Now()
		h.lease.Reset(h.leaseLocked(h.contact))
	}
	return out
}

// leaseLocked is how long h stays held from now on: TTLSeconds, plus the
// keep-alive time for a socket with one, but not past MaxLeaseSeconds
// after the app's last contact. b.mu is held.
func (h *held) leaseLocked(now time.Time) time.Duration {
	d := time.Duration(h.cfg.TTLSeconds)*time.Second + h.keepEvery
	return max(0, min(d, h.contact.Add(time.Duration(h.cfg.MaxLeaseSeconds)*time.Second).Sub(now)))
}

// transfer starts the handoff of a stream or listener; it runs on the
// session reader, which orders it after every DATA the client sent before.
func (s *session) transfer(p *wisp.Packet) {
	b := s.srv.broker
	fail := func(r wisp.CloseReason, why string) {
		b.refused.Add(1)
		s.log.Info("relay: transfer refused", "stream", p.StreamID, "reason", r.String(), "why", why)
		s.write(wisp.AppendTransferred(nil, p.StreamID, r))
	}
	t, err := wisp.ParseTransfer(p.Data)
	if err != nil {
		fail(wisp.ReasonInvalid, err.Error())
		return
	}
	app, cfg, r := s.brokerConfig()
	if r != 0 {
		fail(r, "the app may not transfer sockets")
		return
	}
	m := s.member(p.StreamID)
	h := &held{b: b, app: app.ID, cfg: cfg, id: t.SocketID, task: t.TaskID, ctx: t.Context,
		unreadDone: netutil.NewOnce(), stop: netutil.NewOnce(), loopDone: make(chan struct{})}
	switch {
	case m.tcp != nil:
		st := m.tcp
		st.mu.Lock()
		open := st.conn != nil && !st.done.Done()
		st.mu.Unlock()
		if !open || st.queueClosed || st.handoff.Done() {
			fail(wisp.ReasonInvalid, "the stream is not open both ways")
			return
		}
		h.kind = wisp.HeldStream
		if r := b.reserve(app.ID, cfg, h); r != 0 {
			fail(r, "broker limits or socket id in use")
			return
		}
		b.mu.Lock()
		b.pending[pendingKey{s, p.StreamID}] = h
		b.mu.Unlock()
		// The pump writes what the client queued, then stops (queueDrained);
		// the reader stops at its next read.
		st.handoff.Close()
		st.queueClosed = true
		close(st.queue)
		st.needPump()
		st.windowSig.Notify()
		st.mu.Lock()
		st.conn.SetReadDeadline(time.Now())
		st.mu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			s.handoffStream(st, h, t.KeepAlive)
		}()
	case m.ln != nil:
		l := m.ln
		l.mu.Lock()
		ln, ok := l.ln.(interface{ SetDeadline(time.Time) error })
		if l.ln == nil || l.closed || !ok {
			l.mu.Unlock()
			fail(wisp.ReasonInvalid, "the listener is not bound")
			return
		}
		h.kind, h.flags, h.opts = wisp.HeldListener, l.flags, l.opts
		if r := b.reserve(app.ID, cfg, h); r != 0 {
			l.mu.Unlock()
			fail(r, "broker limits or socket id in use")
			return
		}
		l.closed = true // the accept loop leaves quietly, the socket stays open
		h.ln = l.ln
		l.mu.Unlock()
		s.dropListener(l)
		ln.SetDeadline(time.Now())
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			<-l.exited
			ln.SetDeadline(time.Time{})
			h.unreadDone.Close()
			b.activate(h, t.KeepAlive)
			s.write(wisp.AppendTransferred(nil, p.StreamID, 0))
			s.log.Info("relay: listener transferred to the broker", "listener", p.StreamID, "socket", h.id, "addr", h.ln.Addr().String())
		}()
	case m.udp != nil:
		s.transferUDP(m.udp, h, t, fail) // broker_udp.go
	default:
		fail(wisp.ReasonInvalid, "only open streams, listeners and UDP sockets can be transferred")
	}
}

// awaitUnread waits (up to handoffTimeout) for the transferring session's
// UNREAD, if it is still coming, then stops the held socket's reader: what
// is held is final from here on.
func (h *held) awaitUnread() {
	t := time.NewTimer(handoffTimeout)
	select {
	case <-h.unreadDone.C:
	case <-t.C:
	}
	t.Stop()
	h.halt()
}

// handoffStream waits for st's pump and reader to stop, then moves its
// connection into the broker.
func (s *session) handoffStream(st *tcpStream, h *held, keepAlive time.Duration) {
	b := s.srv.broker
	timer := time.NewTimer(handoffTimeout)
	defer timer.Stop()
	ok := true
	for _, c := range []<-chan struct{}{st.drained.C, st.readerExit.C} {
		select {
		case <-c:
		case <-st.done.C:
			ok = false
		case <-timer.C:
			ok = false
		}
		if !ok {
			break
		}
	}
	var conn net.Conn
	if ok {
		// The stream ends here without closing its connection: abort's
		// once is spent on forgetting it.
		st.mu.Lock()
		conn, st.conn = st.conn, nil
		st.mu.Unlock()
		st.abortOnce.Do(func() {
			st.done.Close()
			s.forget(st)
		})
		if !st.done.Done() || conn == nil {
			ok = false
		}
	}
	if !ok {
		b.mu.Lock()
		delete(b.pending, pendingKey{s, st.id})
		b.mu.Unlock()
		b.drop(h)
		b.refused.Add(1)
		if conn != nil {
			conn.Close()
		}
		st.abort(wisp.ReasonNetworkError)
		s.write(wisp.AppendTransferred(nil, st.id, wisp.ReasonNetworkError))
		return
	}
	conn.SetReadDeadline(time.Time{})
	h.conn = conn
	h.peerClosed = st.peerEOF.Load()
	if h.peerClosed {
		h.reason = wisp.HeldClosed
	}
	b.activate(h, keepAlive)
	s.write(wisp.AppendTransferred(nil, st.id, 0))
	s.log.Info("relay: stream transferred to the broker", "stream", st.id, "socket", h.id, "remote", conn.RemoteAddr().String())
	// The client's unread bytes follow; a session that ends first sends
	// none.
	select {
	case <-h.unreadDone.C:
	case <-s.ctx.Done():
	case <-h.stop.C:
	}
	b.mu.Lock()
	delete(b.pending, pendingKey{s, st.id})
	b.mu.Unlock()
	h.unreadDone.Close()
}

// activate makes h listed, starts its lease and its reader or accept loop.
// After a shutdown began it closes h instead.
func (b *broker) activate(h *held, keepAlive time.Duration) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		close(h.loopDone)
		// close may have dropped h already, while its handoff ran; its
		// socket is closed here either way.
		b.drop(h)
		h.closeSockets()
		b.srv.log.Info("relay: broker released a held socket", "app", h.app, "socket", h.id, "why", "relay shutting down", "buffered", h.buffered())
		return
	}
	b.transfers.Add(1)
	h.active = true
	h.keepEvery, h.contact = keepAlive, time.Now()
	h.lease = time.AfterFunc(h.leaseLocked(h.contact), func() { b.expire(h) })
	if keepAlive > 0 {
		h.keepAlive = time.NewTicker(keepAlive)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			h.keepAliveLoop()
		}()
	}
	b.wg.Add(2)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		defer close(h.loopDone)
		defer b.wg.Done()
		switch h.kind {
		case wisp.HeldListener:
			h.acceptLoop()
		case wisp.HeldDatagram:
			h.datagramLoop() // broker_udp.go
		default:
			h.readLoop()
		}
	}()
}

// keepAliveLoop raises KeepAliveTimerExpired each keep-alive period in which
// nothing else happened, and renews the lease at each tick (leaseLocked).
func (h *held) keepAliveLoop() {
	defer h.keepAlive.Stop()
	for {
		select {
		case <-h.keepAlive.C:
			h.b.mu.Lock()
			if h.active {
				h.lease.Reset(h.leaseLocked(time.Now()))
			}
			h.b.mu.Unlock()
			h.mu.Lock()
			fire := h.reason == wisp.HeldNone
			if fire {
				h.reason = wisp.HeldKeepAliveExpired
			}
			h.mu.Unlock()
			if fire {
				h.b.notify(h, wisp.HeldKeepAliveExpired)
			}
		case <-h.stop.C:
			return
		}
	}
}

// readLoop buffers what the peer sends while the socket is held, within the
// per-socket and per-app bounds: past them it stops reading.
func (h *held) readLoop() {
	b := h.b
	buf := make([]byte, heldReadSize)
	for {
		// Reserve room first, so the app's bound holds across its sockets.
		b.mu.Lock()
		a := b.apps[h.app]
		h.mu.Lock()
		mine := int64(h.heldBytesLocked())
		closed := h.peerClosed
		h.mu.Unlock()
		if a == nil || closed {
			b.mu.Unlock()
			return
		}
		room := min(int64(heldReadSize), h.cfg.MaxBytesPerSocket-mine, h.cfg.MaxBytes-a.bytes)
		space := a.space
		if room > 0 {
			a.bytes += room
		}
		b.mu.Unlock()
		if room <= 0 {
			// Full: TCP flow control holds the peer until a reclaim.
			select {
			case <-space:
				continue
			case <-h.stop.C:
				return
			}
		}
		n, err := h.conn.Read(buf[:room])
		b.mu.Lock()
		if a := b.apps[h.app]; a != nil {
			a.bytes -= room - int64(n)
		}
		b.mu.Unlock()
		if n > 0 {
			b.bytes.Add(int64(n))
			h.mu.Lock()
			h.buf = append(h.buf, buf[:n]...)
			if h.reason == wisp.HeldNone || h.reason == wisp.HeldKeepAliveExpired {
				h.reason = wisp.HeldActivity
			}
			h.mu.Unlock()
			b.notify(h, wisp.HeldActivity)
		}
		if err != nil {
			if h.stop.Done() {
				return
			}
			h.mu.Lock()
			h.peerClosed = true
			h.reason = wisp.HeldClosed
			h.mu.Unlock()
			b.notify(h, wisp.HeldClosed)
			b.srv.log.Info("relay: held socket closed by its peer", "app", h.app, "socket", h.id, "buffered", h.buffered(), "err", err)
			return
		}
	}
}

func (h *held) buffered() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.heldBytesLocked()
}

// heldBytesLocked is what h buffers, in bytes; h.mu is held.
func (h *held) heldBytesLocked() int { return len(h.buf) + len(h.unread) + h.dgramBytes }

// acceptLoop accepts for a held listener and holds each connection.
func (h *held) acceptLoop() {
	b := h.b
	for {
		c, err := h.ln.Accept()
		if err != nil {
			if h.stop.Done() {
				return
			}
			b.srv.log.Info("relay: held listener failed", "app", h.app, "socket", h.id, "err", err)
			h.mu.Lock()
			h.reason = wisp.HeldClosed
			h.mu.Unlock()
			return
		}
		peer := addrPort(c.RemoteAddr())
		pol := b.appPolicy(h.app)
		if pol == nil || b.srv.engine.CheckAddr(pol, policy.OpAccept, peer) != nil {
			c.Close() // logged and counted by the engine's hook
			continue
		}
		if err := setAccepted(c, h.flags, h.opts); err != nil { // tcpcontrol.go
			c.Close()
			continue
		}
		h.mu.Lock()
		h.children++
		n := h.children
		h.mu.Unlock()
		child := &held{b: b, app: h.app, cfg: h.cfg, kind: wisp.HeldStream, id: fmt.Sprintf("%s/%d", h.id, n),
			task: h.task, ctx: h.ctx, conn: c, reason: wisp.HeldAccepted,
			unreadDone: netutil.NewOnce(), stop: netutil.NewOnce(), loopDone: make(chan struct{})}
		if r := b.reserve(h.app, h.cfg, child); r != 0 {
			b.refused.Add(1)
			b.srv.log.Info("relay: held listener refused a connection", "app", h.app, "socket", h.id, "reason", r.String())
			c.Close()
			continue
		}
		child.unreadDone.Close()
		b.accepted.Add(1)
		h.mu.Lock()
		h.reason = wisp.HeldAccepted
		h.mu.Unlock()
		b.activate(child, 0)
		b.notify(h, wisp.HeldAccepted)
		b.srv.log.Info("relay: held listener accepted a connection", "app", h.app, "socket", child.id, "remote", peer.String())
	}
}

// appPolicy is app's policy under the current config; nil if it is gone.
func (b *broker) appPolicy(appID string) *policy.App {
	cfg := b.srv.Config()
	for i := range cfg.Apps {
		if cfg.Apps[i].ID == appID {
			return cfg.Apps[i].policyApp()
		}
	}
	return nil
}

// halt stops h's loops (its socket stays open) and waits for them.
func (h *held) halt() {
	h.stop.Close()
	if h.lease != nil {
		h.lease.Stop()
	}
	now := time.Now()
	if h.conn != nil {
		h.conn.SetReadDeadline(now)
	}
	if h.udp != nil {
		h.udp.Conn().SetReadDeadline(now)
	}
	if d, ok := h.ln.(interface{ SetDeadline(time.Time) error }); ok {
		d.SetDeadline(now)
	}
	<-h.loopDone
	if h.conn != nil {
		h.conn.SetReadDeadline(time.Time{})
	}
	if h.udp != nil {
		h.udp.Conn().SetReadDeadline(time.Time{})
	}
	if d, ok := h.ln.(interface{ SetDeadline(time.Time) error }); ok {
		d.SetDeadline(time.Time{})
	}
}

// release closes h for good.
func (h *held) release(why string) {
	if !h.b.drop(h) {
		return
	}
	h.halt()
	n := h.buffered()
	h.closeSockets()
	h.b.srv.log.Info("relay: broker released a held socket", "app", h.app, "socket", h.id, "why", why, "buffered", n)
}

func (h *held) closeSockets() {
	if h.conn != nil {
		h.conn.Close()
	}
	if h.ln != nil {
		h.ln.Close()
	}
	if h.udp != nil {
		h.udp.Close()
	}
}

func (b *broker) expire(h *held) {
	b.mu.Lock()
	active := h.active
	b.mu.Unlock()
	if !active {
		return
	}
	if b.isHeld(h) {
		b.expired.Add(1)
	}
	h.release("lease expired")
}

func (b *broker) isHeld(h *held) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.apps[h.app]
	return a != nil && a.sockets[h.id] == h
}

// close releases everything held (relay shutdown).
func (b *broker) close() {
	b.stop()
	b.mu.Lock()
	b.closed = true
	var all []*held
	for _, a := range b.apps {
		for _, h := range a.sockets {
			all = append(all, h)
		}
	}
	b.mu.Unlock()
	for _, h := range all {
		h.unreadDone.Close()
		h.stop.Close()
	}
	for _, h := range all {
		b.mu.Lock()
		active := h.active
		b.mu.Unlock()
		if active {
			h.release("relay shutting down")
		} else {
			b.drop(h)
		}
	}
	b.wg.Wait()
}

// take removes the active held socket appID/socketID of kind for a
// reclaim; nil if the app holds no such socket.
func (b *broker) take(appID, socketID string, kind wisp.HeldKind) *held {
	b.mu.Lock()
	a := b.apps[appID]
	var h *held
	if a != nil {
		h = a.sockets[socketID]
	}
	if h == nil || !h.active || h.kind != kind {
		b.mu.Unlock()
		return nil
	}
	h.active = false // no second reclaim, no expiry
	b.mu.Unlock()
	return h
}

// reclaim attaches a held socket to this session; it runs on the reader.
func (s *session) reclaim(p *wisp.Packet) {
	b := s.srv.broker
	kind, socketID, err := wisp.ParseReclaim(p.Data)
	if err != nil || p.StreamID == 0 || p.StreamID&wisp.RelayStreamBit != 0 {
		s.write(wisp.AppendClose(nil, p.StreamID, wisp.ReasonInvalid))
		return
	}
	h := b.take(s.app().id(), socketID, kind)
	if s.app().id() == "" || h == nil {
		// Another app's socket is indistinguishable from none at all.
		s.write(wisp.AppendClose(nil, p.StreamID, wisp.ReasonInvalid))
		return
	}
	if kind == wisp.HeldDatagram {
		s.reclaimUDP(p.StreamID, h) // broker_udp.go
		return
	}
	if kind == wisp.HeldListener {
		l := &listener{s: s, id: p.StreamID, flags: h.flags, opts: h.opts, exited: make(chan struct{})}
		if _, ok := s.register(p.StreamID, member{ln: l}); !ok {
			s.restore(h)
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer close(l.exited)
			h.halt()
			b.drop(h)
			l.mu.Lock()
			l.ln = h.ln
			closed := l.closed
			l.mu.Unlock()
			if closed {
				h.ln.Close()
				return
			}
			b.reclaims.Add(1)
			bound := addrPort(h.ln.Addr())
			reach := wisp.Listening{Bound: bound, ReachablePort: bound.Port()}
			if lc := s.app().listen(); lc != nil && lc.PublicHost != "" {
				reach.ReachableHost = lc.PublicHost
			} else if !bound.Addr().IsUnspecified() {
				reach.ReachableHost = bound.Addr().String()
			}
			s.log.Info("relay: listener reclaimed from the broker", "listener", l.id, "socket", h.id)
			s.write(wisp.AppendListening(nil, l.id, reach))
			l.acceptLoop(h.ln)
		}()
		return
	}
	st := newTCPStream(s, p.StreamID)
	s.adopt(p.StreamID, h, member{tcp: st}, func() {
		h.mu.Lock()
		prefix := append(h.unread, h.buf...)
		h.mu.Unlock()
		s.log.Info("relay: stream reclaimed from the broker", "stream", st.id, "socket", h.id, "buffered", len(prefix))
		opened := wisp.AppendOpened(nil, st.id, wisp.Opened{Remote: addrPort(h.conn.RemoteAddr()), Local: addrPort(h.conn.LocalAddr())})
		st.serve(&heldConn{Conn: h.conn, prefix: prefix}, opened)
	})
}

// adopt makes held socket h this session's stream id (member m): once the
// transferring session's UNREAD is in, h leaves the broker and take serves
// it, in the session's wait group. A session that cannot register it
// leaves h reclaimable.
func (s *session) adopt(id uint32, h *held, m member, take func()) {
	release, ok := s.register(id, m)
	if !ok {
		s.restore(h)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer release()
		h.awaitUnread()
		s.srv.broker.drop(h)
		s.srv.broker.reclaims.Add(1)
		take()
	}()
}

// restore makes a taken socket reclaimable again (the session could not
// register it).
func (s *session) restore(h *held) {
	h.b.mu.Lock()
	h.active = true
	h.b.mu.Unlock()
}

// heldConn is a reclaimed connection: what the broker buffered, then the
// socket.
type heldConn struct {
	net.Conn
	prefix []byte
}

func (c *heldConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

func (c *heldConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
