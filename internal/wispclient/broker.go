package wispclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/sockshim/sockshim/internal/wisp"
)

// The socket broker (wisp.ExtBroker): a stream or listener is handed to the
// relay, which holds it outside any session; a later session of the same
// app lists what is held and reclaims it as a new stream or listener.

// ErrNoBroker is wrapped by the errors of broker calls on a server that does
// not offer sockshim's broker extension (plain Wisp servers, the edge relay).
var ErrNoBroker = fmt.Errorf("wisp: server has no socket broker: %w", errors.ErrUnsupported)

// brokerState is the session's broker requests waiting for their answer.
type brokerState struct {
	mu        sync.Mutex
	transfers map[uint32]chan wisp.CloseReason // by stream or listener id
	lists     map[uint32]chan wisp.Held        // by LIST nonce
	nonce     uint32
}

func (s *Session) errNoBroker() error {
	if s.Extension(wisp.ExtBroker) && s.sockshim {
		return nil
	}
	if s.profile != nil {
		return fmt.Errorf("%w (%s does not hold sockets outside a session)", ErrNoBroker, s.relayName())
	}
	return ErrNoBroker
}

// brokerPacket takes TRANSFERRED and HELD; it runs on readLoop.
func (s *Session) brokerPacket(p *wisp.Packet) {
	b := &s.brk
	switch p.Type {
	case wisp.TypeTransferred:
		r, err := wisp.ParseTransferred(p.Data)
		if err != nil {
			r = wisp.ReasonInvalid
		}
		b.mu.Lock()
		ch := b.transfers[p.StreamID]
		delete(b.transfers, p.StreamID)
		b.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	case wisp.TypeHeld:
		h, err := wisp.ParseHeld(p.Data)
		if err != nil {
			return
		}
		b.mu.Lock()
		ch := b.lists[h.Nonce]
		delete(b.lists, h.Nonce)
		b.mu.Unlock()
		if ch != nil {
			ch <- h
		}
	}
}

// expect registers a waiter for the next TRANSFERRED on id.
func (s *Session) expect(id uint32) (chan wisp.CloseReason, func(), error) {
	ch := make(chan wisp.CloseReason, 1)
	b := &s.brk
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.transfers == nil {
		b.transfers = map[uint32]chan wisp.CloseReason{}
	}
	if _, busy := b.transfers[id]; busy {
		return nil, nil, errors.New("wisp: a transfer of this stream is already under way")
	}
	b.transfers[id] = ch
	return ch, func() {
		b.mu.Lock()
		if b.transfers[id] == ch {
			delete(b.transfers, id)
		}
		b.mu.Unlock()
	}, nil
}

// waitTransferred waits for the TRANSFERRED ch was registered for.
func (s *Session) waitTransferred(ctx context.Context, ch chan wisp.CloseReason) error {
	select {
	case r := <-ch:
		if r != 0 {
			return s.closeError(r)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done.C:
		return s.lost()
	}
}

// transfer sends TRANSFER on id and waits for TRANSFERRED.
func (s *Session) transfer(ctx context.Context, id uint32, t wisp.Transfer) error {
	if err := s.errNoBroker(); err != nil {
		return err
	}
	if err := wisp.ValidTransfer(t); err != nil {
		return err
	}
	ch, done, err := s.expect(id)
	if err != nil {
		return err
	}
	defer done()
	if err := s.send(wisp.AppendTransfer(nil, id, t)); err != nil {
		return err
	}
	return s.waitTransferred(ctx, ch)
}

// Transfer hands the stream to the relay's broker under t.SocketID. On
// success the stream is closed here without a CLOSE: what it had received
// and not been read goes back to the relay (UNREAD), ahead of what the
// broker buffers, so a reclaim reads every byte in order. On a refusal
// (a *wisp.CloseError: ReasonThrottled for the app's broker limits,
// ReasonInvalid for a socket id in use or a stream that is not open) the
// stream may already have been closed by the relay.
func (st *Stream) Transfer(ctx context.Context, t wisp.Transfer) error {
	if st.closed.Done() {
		return net.ErrClosed
	}
	if st.typ != wisp.StreamTCP {
		return fmt.Errorf("wisp: only TCP streams can be transferred: %w", errors.ErrUnsupported)
	}
	s := st.s
	if err := s.transfer(ctx, st.id, t); err != nil {
		return err
	}
	// TRANSFERRED came after every DATA the relay sent on the id (one
	// WebSocket, in order), so recv is all the stream will ever get.
	var unread []chunk
	st.closeOnce.Do(func() {
		st.closed.Close()
		s.forget(st.id, st)
		st.mu.Lock()
		unread, st.recv = st.recv, nil
		st.buffered = 0
		st.mu.Unlock()
	})
	// The relay confirms the last UNREAD with a second TRANSFERRED: then
	// every byte is the broker's, whatever happens to this session.
	ch, done, err := s.expect(st.id)
	if err != nil {
		return err
	}
	defer done()
	var pending []byte
	flush := func(last bool) error {
		err := s.enqueue(wisp.AppendUnread(nil, st.id, last, pending))
		pending = pending[:0]
		return err
	}
	for _, c := range unread {
		for b := c.b; len(b) > 0 && err == nil; {
			n := min(len(b), MaxPayload-len(pending))
			pending = append(pending, b[:n]...)
			b = b[n:]
			if len(pending) == MaxPayload {
				err = flush(false)
			}
		}
		c.release()
	}
	if err == nil {
		err = flush(true)
	}
	if err != nil {
		return err
	}
	return s.waitTransferred(ctx, ch)
}

// Transfer hands the listener to the relay's broker: it goes on accepting
// while no session holds it, and each connection it accepts is held too.
// Connections accepted before the transfer and not yet taken by Accept are
// closed. Errors are those of Stream.Transfer.
func (l *Listener) Transfer(ctx context.Context, t wisp.Transfer) error {
	if l.closed.Done() {
		return net.ErrClosed
	}
	if err := l.s.transfer(ctx, l.id, t); err != nil {
		return err
	}
	l.mu.Lock()
	if l.err == nil {
		l.err = net.ErrClosed
	}
	l.mu.Unlock()
	l.once.Do(func() { close(l.boundCh) })
	l.closed.Close()
	l.s.forgetListener(l)
	for {
		select {
		case st := <-l.accepts:
			st.Close()
		default:
			return nil
		}
	}
}

// ListHeld asks the broker what it holds for the session's app.
func (s *Session) ListHeld(ctx context.Context) ([]wisp.HeldSocket, error) {
	if err := s.errNoBroker(); err != nil {
		return nil, err
	}
	ch := make(chan wisp.Held, 1)
	b := &s.brk
	b.mu.Lock()
	if b.lists == nil {
		b.lists = map[uint32]chan wisp.Held{}
	}
	b.nonce++
	nonce := b.nonce
	b.lists[nonce] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.lists, nonce)
		b.mu.Unlock()
	}()
	if err := s.send(wisp.AppendList(nil, nonce)); err != nil {
		return nil, err
	}
	select {
	case h := <-ch:
		return h.Sockets, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done.C:
		return nil, s.lost()
	}
}

// Reclaim attaches the held stream socketID to this session as a new
// stream: what the broker buffered is read first, in order. A socket the
// broker does not hold for this app is a *wisp.CloseError (ReasonInvalid).
func (s *Session) Reclaim(ctx context.Context, socketID string) (*Stream, error) {
	if err := s.errNoBroker(); err != nil {
		return nil, err
	}
	st := newStream(s, wisp.StreamTCP)
	id, err := s.register(entry{stream: st}, 0)
	if err != nil {
		return nil, err
	}
	if err := s.send(wisp.AppendReclaim(nil, id, wisp.HeldStream, socketID)); err != nil {
		s.forget(id, st)
		return nil, err
	}
	select {
	case <-st.openCh:
		st.mu.Lock()
		err, opened := st.rerr, st.isOpened || len(st.recv) > 0
		st.mu.Unlock()
		if !opened && err != nil {
			return nil, err
		}
		return st, nil
	case <-ctx.Done():
		st.Abort(wisp.ReasonVoluntary)
		return nil, ctx.Err()
	case <-s.done.C:
		return nil, s.lost()
	}
}

// ReclaimListener attaches the held listener socketID to this session.
func (s *Session) ReclaimListener(ctx context.Context, socketID string) (*Listener, error) {
	if err := s.errNoBroker(); err != nil {
		return nil, err
	}
	if !s.canListen {
		return nil, s.errNoListen()
	}
	l := newListener(s)
	if _, err := s.register(entry{listener: l}, 0); err != nil {
		return nil, err
	}
	if err := s.enqueue(wisp.AppendReclaim(nil, l.id, wisp.HeldListener, socketID)); err != nil {
		s.forgetListener(l)
		return nil, err
	}
	return l.waitBound(ctx)
}

// SetPushSubscription registers the app's Web Push subscription with the
// broker (an empty endpoint removes it): the relay then notifies it when a
// held socket of the app has activity. A relay whose config has no push
// settings for the app, or whose push services do not include the
// endpoint, refuses with a *wisp.CloseError (ReasonBlocked).
func (s *Session) SetPushSubscription(ctx context.Context, sub wisp.PushSubscription) error {
	if err := s.errNoBroker(); err != nil {
		return err
	}
	ch, done, err := s.expect(0)
	if err != nil {
		return err
	}
	defer done()
	if err := s.send(wisp.AppendPushSubscribe(nil, sub)); err != nil {
		return err
	}
	return s.waitTransferred(ctx, ch)
}

// Transfer hands the UDP socket to the relay's broker under t.SocketID. On
// success the socket is closed here without a CLOSE, and the datagrams it
// had received and not been read go back to the relay (UNREAD, one
// datagram a packet), ahead of what the broker keeps. Datagrams that were
// on a WebRTC data channel when the socket left may be lost, as UDP may
// lose them. Errors are those of Stream.Transfer.
func (c *UDPConn) Transfer(ctx context.Context, t wisp.Transfer) error {
	if c.closed.Done() {
		return net.ErrClosed
	}
	s := c.s
	if err := s.transfer(ctx, c.id, t); err != nil {
		return err
	}
	c.closed.Close()
	c.forget()
	c.link.Detach()
	c.mu.Lock()
	unread := c.q
	c.q, c.qBytes = nil, 0
	c.mu.Unlock()
	c.s.rtcRelease(c)
	ch, done, err := s.expect(c.id)
	if err != nil {
		return err
	}
	defer done()
	for _, d := range unread {
		data := d.data
		if c.bound {
			data = append(wisp.AppendAddrPort(nil, d.peer), data...)
		}
		if err := s.enqueue(wisp.AppendUnread(nil, c.id, false, data)); err != nil {
			return err
		}
	}
	if err := s.enqueue(wisp.AppendUnread(nil, c.id, true, nil)); err != nil {
		return err
	}
	return s.waitTransferred(ctx, ch)
}

// ReclaimUDP attaches the held UDP socket socketID to this session: the
// datagrams the broker kept are read first, in order. Whether it is bound
// or connected is the relay's OPENED (a bound socket has no remote). A
// socket the broker does not hold for this app is a *wisp.CloseError
// (ReasonInvalid).
func (s *Session) ReclaimUDP(ctx context.Context, socketID string) (*UDPConn, error) {
	if err := s.errNoBroker(); err != nil {
		return nil, err
	}
	c, err := s.newUDP(false)
	if err != nil {
		return nil, err
	}
	c.reclaim = true
	return c.start(ctx, wisp.AppendReclaim(nil, c.id, wisp.HeldDatagram, socketID), true)
}
