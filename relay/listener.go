package relay

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/tcpctl"
	"github.com/sockshim/sockshim/internal/wisp"
)

// listener is a TCP listener the relay holds for a session (ExtListen). It
// lives no longer than its session: closeAll closes it, which releases the
// port at once.
type listener struct {
	s     *session
	id    uint32
	flags uint8
	opts  tcpctl.Options // LISTEN_OPTIONS' socket options (tcpcontrol.go)

	mu     sync.Mutex
	ln     net.Listener // nil until bound
	closed bool
	exited chan struct{} // closed when run returns (the broker waits for it)
}

// openListener handles LISTEN; it runs on the session reader and binds on a
// goroutine.
func (s *session) openListener(p *wisp.Packet) {
	req, err := wisp.ParseListen(p.Data)
	s.listen(p.StreamID, req, tcpctl.Options{}, err)
}

// listen opens the listener of a LISTEN or LISTEN_OPTIONS whose payload
// parsed with err.
func (s *session) listen(id uint32, req wisp.Listen, opts tcpctl.Options, err error) {
	if err != nil || id == 0 || id&wisp.RelayStreamBit != 0 {
		s.log.Info("relay: bad LISTEN", "listener", id, "err", err)
		s.write(wisp.AppendClose(nil, id, wisp.ReasonInvalid))
		return
	}
	l := &listener{s: s, id: id, flags: req.Flags, opts: opts, exited: make(chan struct{})}
	if _, ok := s.register(id, member{ln: l}); !ok {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		l.run(req)
	}()
}

func (l *listener) run(req wisp.Listen) {
	defer close(l.exited)
	s := l.s
	ln, reason := l.bind(req)
	if ln == nil {
		s.dropListener(l)
		s.write(wisp.AppendClose(nil, l.id, reason))
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		ln.Close()
		return
	}
	l.ln = ln
	l.mu.Unlock()
	bound := addrPort(ln.Addr())
	reach := wisp.Listening{Bound: bound, ReachablePort: bound.Port()}
	if lc := s.app().listen(); lc != nil && lc.PublicHost != "" {
		reach.ReachableHost = lc.PublicHost
	} else if !bound.Addr().IsUnspecified() {
		reach.ReachableHost = bound.Addr().String()
	}
	s.log.Info("relay: listening", "listener", l.id, "addr", bound.String())
	s.write(wisp.AppendListening(nil, l.id, reach))
	l.acceptLoop(ln)
}

// bind decides (policy.CheckListen, which logs and counts the decision
// once through the engine's hook) and opens the listener. A nil listener
// comes with the CLOSE reason for the client.
func (l *listener) bind(req wisp.Listen) (net.Listener, wisp.CloseReason) {
	s := l.s
	as := s.app()
	var rules *policy.ListenRules
	lc := as.listen()
	if lc != nil {
		rules = &lc.rules
	}
	addr, err := s.srv.engine.CheckListen(as.policy, rules, req.Host, req.Port)
	if err != nil {
		if errors.Is(err, policy.ErrInvalid) {
			return nil, wisp.ReasonInvalid
		}
		return nil, wisp.ReasonBlocked
	}
	network := "tcp6"
	if addr.Is4() {
		network = "tcp4"
	}
	listen := func(port uint16) (net.Listener, error) {
		var b Binder = s.srv.opts.Binder
		if b == nil {
			// Keep-alive is set per connection from the flags; the socket
			// options go on the listening socket too, so the SYN-ACK
			// carries the hop limit.
			b = &net.ListenConfig{KeepAlive: -1, Control: l.opts.Control()}
		}
		return b.Listen(s.dials, network, netip.AddrPortFrom(addr, port).String())
	}
	var ln net.Listener
	if req.Port != 0 {
		ln, err = listen(req.Port)
	} else {
		ln, err = l.anyPort(lc, listen)
	}
	if err != nil {
		r := wisp.ReasonNetworkError
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			r = wisp.ReasonAddrInUse
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			r = wisp.ReasonInvalid
		}
		s.log.Info("relay: bind failed", "listener", l.id, "host", req.Host, "port", req.Port, "err", err)
		return nil, r
	}
	return ln, 0
}

// anyPort binds a free port in the allowed ranges: the kernel's choice when
// it falls inside them, else the first free one from a random start.
func (l *listener) anyPort(lc *ListenConfig, listen func(uint16) (net.Listener, error)) (net.Listener, error) {
	ln, err := listen(0)
	if err == nil {
		if lc.rules.PortAllowed(addrPort(ln.Addr()).Port()) {
			return ln, nil
		}
		ln.Close()
	}
	total := 0
	for _, r := range lc.rules.Ports {
		total += int(r.Hi-r.Lo) + 1
	}
	start := rand.IntN(total)
	for i := range total {
		k := (start + i) % total
		for _, r := range lc.rules.Ports {
			if n := int(r.Hi-r.Lo) + 1; k >= n {
				k -= n
				continue
			}
			ln, err = listen(r.Lo + uint16(k))
			break
		}
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			return ln, err
		}
	}
	return nil, err
}

func (l *listener) acceptLoop(ln net.Listener) {
	s := l.s
	for {
		c, err := ln.Accept()
		if err != nil {
			if l.isClosed() {
				return
			}
			s.log.Info("relay: listener failed", "listener", l.id, "err", err)
			if s.dropListener(l) {
				s.write(wisp.AppendClose(nil, l.id, reasonFor(err, true)))
			}
			ln.Close()
			return
		}
		peer := addrPort(c.RemoteAddr())
		// The current config decides each accept: a reload applies at once.
		if err := s.srv.engine.CheckAddr(s.app().policy, policy.OpAccept, peer); err != nil {
			c.Close() // logged and counted by the engine's hook
			continue
		}
		if err := setAccepted(c, l.flags, l.opts); err != nil {
			s.log.Info("relay: socket options on an accepted connection", "listener", l.id, "err", err)
			c.Close()
			continue
		}
		// An inbound connection is a stream like any other: it passes the
		// same admission (the session's, the app's and the relay's limits).
		st := newTCPStream(s, 0)
		release, ok := s.register(0, member{tcp: st})
		if !ok {
			c.Close()
			if l.isClosed() {
				return
			}
			continue
		}
		first := wisp.AppendAccepted(nil, st.id, wisp.Accepted{Listener: l.id, Remote: peer, Local: addrPort(c.LocalAddr())})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer release()
			st.serve(c, first)
		}()
	}
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// close closes the listener (the port is free when it returns); accepted
// streams live on.
func (l *listener) close() {
	l.mu.Lock()
	l.closed = true
	ln := l.ln
	l.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// dropListener removes l from the table; false if it was no longer there.
func (s *session) dropListener(l *listener) bool { return s.unregister(l.id, member{ln: l}) }
