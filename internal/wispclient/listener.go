package wispclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/sockshim/sockshim/internal/netutil"
	"github.com/sockshim/sockshim/internal/wisp"
)

// backlog bounds the accepted streams waiting for Accept; a connection
// beyond it is closed with ReasonThrottled.
const backlog = 128

// ErrNoListen is returned by Listen when the server does not speak
// sockshim's listener extension.
var ErrNoListen = errors.New("wisp: server does not support listeners")

// Listener is a TCP listener held by the relay for this session
// (sockshim's ExtListen). Accepted connections are relay-initiated streams.
type Listener struct {
	s  *Session
	id uint32

	boundCh chan struct{}
	once    sync.Once
	closed  *netutil.Once
	gone    *netutil.Once // the relay closed its socket (CLOSE on the id)
	accepts chan *Stream

	mu    sync.Mutex
	bound wisp.Listening
	err   error // why the listener ended (a *wisp.CloseError, ErrSessionLost...)
}

// Listen asks the relay to listen on host (an IP literal, or "" for the
// relay's default address) and port (0: any allowed port) and waits until
// it is bound or refused. A refusal is a *wisp.CloseError (ReasonBlocked
// for policy, ReasonAddrInUse, ReasonInvalid, ReasonThrottled).
func (s *Session) Listen(ctx context.Context, host string, port uint16, flags uint8) (*Listener, error) {
	return s.ListenOptions(ctx, host, port, flags, wisp.ListenOptions{})
}

// ListenOptions is Listen with socket options for the accepted
// connections, which travel in LISTEN_OPTIONS (ExtTCPControl); zero
// options send a plain LISTEN. Options a relay without ExtTCPControl cannot
// apply fail with ErrNoTCPControl before anything is sent.
func (s *Session) ListenOptions(ctx context.Context, host string, port uint16, flags uint8, o wisp.ListenOptions) (*Listener, error) {
	if !s.canListen {
		return nil, s.errNoListen()
	}
	if !o.IsZero() && !s.tcpControl {
		return nil, ErrNoTCPControl
	}
	l := newListener(s)
	if _, err := s.register(entry{listener: l}, 0); err != nil {
		return nil, err
	}
	req := wisp.Listen{Flags: flags, Port: port, Host: host}
	pkt := wisp.AppendListen(nil, l.id, req)
	if !o.IsZero() {
		pkt = wisp.AppendListenOptions(nil, l.id, o, req)
	}
	if err := s.enqueue(pkt); err != nil {
		s.forgetListener(l)
		return nil, err
	}
	return l.waitBound(ctx)
}

func newListener(s *Session) *Listener {
	return &Listener{s: s, boundCh: make(chan struct{}), closed: netutil.NewOnce(), gone: netutil.NewOnce(), accepts: make(chan *Stream, backlog)}
}

// waitBound waits for LISTENING or the refusal (CLOSE) of the listener.
func (l *Listener) waitBound(ctx context.Context) (*Listener, error) {
	select {
	case <-l.boundCh:
		l.mu.Lock()
		err := l.err
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return l, nil
	case <-ctx.Done():
		l.Close()
		return nil, ctx.Err()
	}
}

func (s *Session) forgetListener(l *Listener) { s.forget(l.id, l) }

// handle takes LISTENING and CLOSE for the listener; it runs on readLoop.
func (l *Listener) handle(p *wisp.Packet) error {
	switch p.Type {
	case wisp.TypeListening:
		b, err := wisp.ParseListening(p.Data)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.bound = b
		l.mu.Unlock()
		l.once.Do(func() { close(l.boundCh) })
	case wisp.TypeClose:
		l.s.forgetListener(l)
		l.failed(&wisp.CloseError{Reason: p.Reason})
		l.gone.Close()
	}
	return nil
}

// failed ends the listener with err (the relay closed it or the session
// ended).
func (l *Listener) failed(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.once.Do(func() { close(l.boundCh) })
	l.closed.Close()
}

// accepted registers a relay-initiated stream and hands it to its listener.
func (s *Session) accepted(p *wisp.Packet) error {
	a, err := wisp.ParseAccepted(p.Data)
	if err != nil {
		return err
	}
	if p.StreamID&wisp.RelayStreamBit == 0 {
		return fmt.Errorf("%w: ACCEPTED on client stream id %d", wisp.ErrMalformed, p.StreamID)
	}
	l := s.lookup(a.Listener).listener
	st := newStream(s, wisp.StreamTCP)
	st.endpts, st.isOpened = wisp.Opened{Remote: a.Remote, Local: a.Local}, true
	st.markOpen()
	if _, err := s.register(entry{stream: st}, p.StreamID); err != nil {
		return err
	}
	reason := wisp.ReasonVoluntary // no such listener any more
	if l != nil {
		// Under l.mu, so Close (which sets err first) drains every
		// stream pushed here.
		l.mu.Lock()
		if l.err == nil {
			select {
			case l.accepts <- st:
				reason = 0
			default:
				reason = wisp.ReasonThrottled
			}
		}
		l.mu.Unlock()
	}
	if reason != 0 {
		st.Abort(reason)
	}
	return nil
}

// Accept waits for the next connection. After Close or the listener's end
// it returns an error (net.ErrClosed after Close).
func (l *Listener) Accept(ctx context.Context) (*Stream, error) {
	select {
	case st := <-l.accepts:
		return st, nil
	default:
	}
	select {
	case st := <-l.accepts:
		return st, nil
	case <-l.closed.C:
		l.mu.Lock()
		err := l.err
		l.mu.Unlock()
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Bound is what the relay reported when it bound the listener.
func (l *Listener) Bound() wisp.Listening {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bound
}

// Addr is the relay's bound address.
func (l *Listener) Addr() net.Addr {
	b := l.Bound().Bound
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(b.Addr(), b.Port()))
}

// closeAckTimeout bounds how long Listener.Close waits for the relay.
const closeAckTimeout = 5 * time.Second

// Close closes the listener on the relay and every accepted stream not yet
// taken by Accept. When the relay confirms closes (ListenFlagCloseAck, any
// sockshim relay from this repository), Close returns once the relay has
// closed its socket, so a connection to the port right after Close is
// refused; it waits at most 5 s, or until the session ends.
func (l *Listener) Close() error {
	l.mu.Lock()
	first := l.err == nil
	if first {
		l.err = net.ErrClosed
	}
	l.mu.Unlock()
	l.once.Do(func() { close(l.boundCh) })
	l.closed.Close()
	if !first {
		return net.ErrClosed
	}
	if l.s.listenAck && l.s.enqueue(wisp.AppendClose(nil, l.id, wisp.ReasonVoluntary)) == nil {
		t := time.NewTimer(closeAckTimeout)
		select {
		case <-l.gone.C:
		case <-l.s.done.C:
		case <-t.C:
		}
		t.Stop()
		l.s.forgetListener(l)
	} else {
		l.s.forgetListener(l)
		l.s.enqueue(wisp.AppendClose(nil, l.id, wisp.ReasonVoluntary))
	}
	for {
		select {
		case st := <-l.accepts:
			st.Close()
		default:
			return nil
		}
	}
}
