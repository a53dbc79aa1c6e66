package wispclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockshim/sockshim/internal/netutil"
	"github.com/sockshim/sockshim/internal/wisp"
)

// UDP payload limits: 65535 minus the IPv4 or IPv6 header and the UDP header.
const (
	MaxDatagram4 = 65507
	MaxDatagram6 = 65527
)

// DefaultInboundBuffer is how many bytes of received datagrams a UDPConn
// holds unread before it drops new ones: 256 KiB.
const DefaultInboundBuffer = 256 << 10

// maxQueuedFrames bounds the session's outgoing queue for datagrams, which
// have no Wisp credit: past it datagrams are dropped, as a full socket
// buffer drops them.
const maxQueuedFrames = 4096

// ErrMessageTooLong is wrapped by sends over the UDP payload limit.
var ErrMessageTooLong = errors.New("datagram over the UDP payload limit")

// datagramState is the session's WebRTC peer (its UDP sockets are in the
// session's id table).
type datagramState struct {
	mu  sync.Mutex
	rtc *rtcClient
}

// UDPConn is a UDP socket through the relay: connected (Wisp stream type
// 0x02, which any Wisp server with the UDP extension supports) or bound to
// a relay address (sockshim's ExtBoundUDP), where each datagram carries its
// peer. Reads return whole datagrams; when a relay-side WebRTC data channel
// is open for the socket, datagrams travel on it instead of the WebSocket.
type UDPConn struct {
	s      *Session
	id     uint32
	bound  bool
	openCh chan struct{}
	open   sync.Once

	mu       sync.Mutex
	q        []datagram
	qBytes   int
	limit    int
	rerr     error // the relay closed the socket; io.EOF for orderly
	sendErr  error // a relay report about an earlier datagram, returned once
	endpts   wisp.Opened
	isOpened bool
	results  chan wisp.CloseReason
	reqMu    sync.Mutex                 // one option or join request at a time
	channel  interface{ Close() error } // the WebRTC data channel, if any

	readable netutil.Signal
	closed   *netutil.Once
	rdl, wdl *netutil.Deadline
	link     wisp.DatagramChannel // the data channel's link, while it is open
	dropped  atomic.Uint64
	viaChan  atomic.Uint64 // datagrams received on the data channel
	reclaim  bool          // a broker reclaim: OPENED decides bound (broker.go)
}

type datagram struct {
	peer netip.AddrPort
	data []byte
}

// DialUDP opens a connected UDP socket to host:port through the relay.
func (s *Session) DialUDP(ctx context.Context, host string, port uint16) (*UDPConn, error) {
	if s.v2 && !s.udp {
		return nil, s.errNoUDP()
	}
	c, err := s.newUDP(false)
	if err != nil {
		return nil, err
	}
	pkt := wisp.Packet{Type: wisp.TypeConnect, StreamID: c.id, StreamType: wisp.StreamUDP, Port: port, Host: host}
	return c.start(ctx, wisp.Append(nil, &pkt), s.sockshim)
}

// BindUDP opens an unconnected UDP socket on the relay at local (an
// invalid address means every interface; port 0 any port). reuse asks for
// SO_REUSEADDR. It needs a sockshim relay (ExtBoundUDP).
func (s *Session) BindUDP(ctx context.Context, local netip.AddrPort, reuse bool) (*UDPConn, error) {
	if !s.Extension(wisp.ExtBoundUDP) {
		return nil, fmt.Errorf("wisp: %s does not offer bound UDP sockets (extension 0x%02x): %w", s.relayName(), uint8(wisp.ExtBoundUDP), errors.ErrUnsupported)
	}
	c, err := s.newUDP(true)
	if err != nil {
		return nil, err
	}
	var flags wisp.BindFlags
	if reuse {
		flags |= wisp.BindReuseAddress
	}
	return c.start(ctx, wisp.AppendBind(nil, c.id, wisp.Bind{Flags: flags, Local: local}), true)
}

func (s *Session) newUDP(bound bool) (*UDPConn, error) {
	c := &UDPConn{
		s: s, bound: bound, openCh: make(chan struct{}), limit: DefaultInboundBuffer,
		results:  make(chan wisp.CloseReason, 1),
		readable: netutil.NewSignal(), closed: netutil.NewOnce(),
		rdl: netutil.NewDeadline(), wdl: netutil.NewDeadline(),
	}
	if _, err := s.register(entry{udp: c}, 0); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *UDPConn) start(ctx context.Context, frame []byte, wait bool) (*UDPConn, error) {
	if err := c.s.enqueue(frame); err != nil {
		c.forget()
		return nil, err
	}
	if !wait {
		c.markOpen()
		return c, nil
	}
	select {
	case <-c.openCh:
		c.mu.Lock()
		err, ok := c.rerr, c.isOpened
		c.mu.Unlock()
		if !ok && err != nil {
			c.forget()
			if err == io.EOF {
				err = errBrokenPipe
			}
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	case <-c.s.done.C:
		return nil, c.s.lost()
	}
}

func (c *UDPConn) markOpen() { c.open.Do(func() { close(c.openCh) }) }

func (c *UDPConn) forget() { c.s.forget(c.id, c) }

// routeDatagram takes the packets of UDP sockets (c is p's, if any) and
// WebRTC signalling; it reports whether p was one.
func (s *Session) routeDatagram(p *wisp.Packet, c *UDPConn) bool {
	if p.Type == wisp.TypeSignal {
		if p.StreamID == 0 {
			s.onSignal(p.Data)
		}
		return true
	}
	if c == nil {
		return false
	}
	switch p.Type {
	case wisp.TypeData:
		if !c.bound {
			c.deliver(netip.AddrPort{}, p.Data)
		}
	case wisp.TypeDatagram:
		if peer, data, err := wisp.ParseDatagram(p.Data); err == nil && c.bound {
			c.deliver(peer, data)
		}
	case wisp.TypeUDPResult:
		req, r, err := wisp.ParseUDPResult(p.Data)
		if err != nil {
			break
		}
		if req == wisp.TypeDatagram {
			c.mu.Lock()
			c.sendErr = &wisp.CloseError{Reason: r}
			c.mu.Unlock()
			break
		}
		select {
		case c.results <- r:
		default:
		}
	case wisp.TypeOpened:
		if o, err := wisp.ParseOpened(p.Data); err == nil {
			c.mu.Lock()
			if c.reclaim && !c.isOpened {
				c.bound = !o.Remote.IsValid() // before any datagram: this goroutine routes them
			}
			c.endpts, c.isOpened = o, true
			c.mu.Unlock()
			c.markOpen()
		}
	case wisp.TypeClose:
		c.forget()
		var err error = io.EOF
		if p.Reason != wisp.ReasonVoluntary {
			err = &wisp.CloseError{Reason: p.Reason}
		}
		c.remoteClosed(err)
	}
	return true
}

func (c *UDPConn) remoteClosed(err error) {
	c.mu.Lock()
	if c.rerr == nil {
		c.rerr = err
	}
	c.mu.Unlock()
	c.markOpen()
	c.readable.Notify()
}

// deliver queues one received datagram, dropping it when the unread bytes
// would pass the inbound buffer size.
func (c *UDPConn) deliver(peer netip.AddrPort, b []byte) {
	c.mu.Lock()
	if c.qBytes+len(b) > c.limit {
		c.mu.Unlock()
		c.dropped.Add(1)
		return
	}
	c.q = append(c.q, datagram{peer: peer, data: b})
	c.qBytes += len(b)
	c.mu.Unlock()
	c.markOpen()
	c.readable.Notify()
}

// fromChannel takes one data channel message for this socket.
func (c *UDPConn) fromChannel(msg []byte) {
	c.viaChan.Add(1)
	if !c.bound {
		c.deliver(netip.AddrPort{}, msg)
		return
	}
	if peer, data, err := wisp.ParseDatagram(msg); err == nil {
		c.deliver(peer, data)
	}
}

// ChannelOpen reports whether datagrams are sent on a WebRTC data channel.
func (c *UDPConn) ChannelOpen() bool { return c.link.IsOpen() }

// ChannelReceived counts datagrams received on the data channel.
func (c *UDPConn) ChannelReceived() uint64 { return c.viaChan.Load() }

// Bound reports whether the socket is unconnected.
func (c *UDPConn) Bound() bool { return c.bound }

// Dropped counts datagrams dropped because the inbound buffer was full.
func (c *UDPConn) Dropped() uint64 { return c.dropped.Load() }

// SetInboundBuffer sets how many unread bytes are held (default 256 KiB).
func (c *UDPConn) SetInboundBuffer(n int) {
	c.mu.Lock()
	c.limit = n
	c.mu.Unlock()
}

// Endpoints is the relay's socket: local address, and for a connected
// socket the peer, when the relay reported them.
func (c *UDPConn) Endpoints() (wisp.Opened, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endpts, c.isOpened
}

func (c *UDPConn) opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: "wisp-udp", Err: err}
}

// ReadFrom reads one whole datagram (truncated to b, as a UDP socket
// truncates) and its peer (for a connected socket: the connected peer when
// known).
func (c *UDPConn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	for {
		if c.closed.Done() {
			return 0, netip.AddrPort{}, c.opErr("read", net.ErrClosed)
		}
		if c.rdl.Expired() {
			return 0, netip.AddrPort{}, c.opErr("read", os.ErrDeadlineExceeded)
		}
		c.mu.Lock()
		if len(c.q) > 0 {
			d := c.q[0]
			c.q[0] = datagram{}
			c.q = c.q[1:]
			c.qBytes -= len(d.data)
			more := len(c.q) > 0
			if !c.bound {
				d.peer = c.endpts.Remote
			}
			c.mu.Unlock()
			if more {
				c.readable.Notify()
			}
			return copy(b, d.data), d.peer, nil
		}
		rerr := c.rerr
		c.mu.Unlock()
		if rerr != nil {
			if rerr == io.EOF {
				return 0, netip.AddrPort{}, io.EOF
			}
			return 0, netip.AddrPort{}, c.opErr("read", rerr)
		}
		select {
		case <-c.readable:
		case <-c.rdl.Wait():
		case <-c.closed.C:
		case <-c.s.done.C:
			c.remoteClosed(c.s.lost())
		}
	}
}

// Read reads one datagram.
func (c *UDPConn) Read(b []byte) (int, error) {
	n, _, err := c.ReadFrom(b)
	return n, err
}

func (c *UDPConn) checkSend(n int, ipv6 bool) error {
	if c.closed.Done() {
		return net.ErrClosed
	}
	if c.wdl.Expired() {
		return os.ErrDeadlineExceeded
	}
	limit := MaxDatagram4
	if ipv6 {
		limit = MaxDatagram6
	}
	if n > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLong, n, limit)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rerr != nil {
		if c.rerr == io.EOF {
			return errBrokenPipe
		}
		return c.rerr
	}
	if err := c.sendErr; err != nil {
		c.sendErr = nil
		return err
	}
	return nil
}

// send queues one frame unless the session's queue is full (then the
// datagram is dropped, as by a full socket buffer).
func (c *UDPConn) send(frame []byte) error {
	c.s.writeMu.Lock()
	full := len(c.s.outq) >= maxQueuedFrames
	c.s.writeMu.Unlock()
	if full {
		c.dropped.Add(1)
		return nil
	}
	return c.s.enqueue(frame)
}

// Write sends one datagram on a connected socket.
func (c *UDPConn) Write(b []byte) (int, error) {
	if c.bound {
		return 0, c.opErr("write", errors.New("Write on an unconnected socket: use WriteTo"))
	}
	o, _ := c.Endpoints()
	if err := c.checkSend(len(b), o.Remote.Addr().Is6() && !o.Remote.Addr().Is4In6()); err != nil {
		return 0, c.opErr("write", err)
	}
	if c.link.Send(false, netip.AddrPort{}, b) {
		return len(b), nil
	}
	if err := c.send(wisp.AppendData(make([]byte, 0, wisp.HeaderLen+len(b)), c.id, b)); err != nil {
		return 0, c.opErr("write", err)
	}
	return len(b), nil
}

// WriteTo sends one datagram to ap from a bound socket; the relay checks the
// destination. A denial arrives after the fact and is returned by the next
// send, as ICMP errors are on a UDP socket.
func (c *UDPConn) WriteTo(b []byte, ap netip.AddrPort) (int, error) {
	if !c.bound {
		return 0, c.opErr("write", errors.New("WriteTo on a connected socket"))
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if err := c.checkSend(len(b), ap.Addr().Is6()); err != nil {
		return 0, c.opErr("write", err)
	}
	if c.link.Send(true, ap, b) {
		return len(b), nil
	}
	if err := c.send(wisp.AppendDatagram(make([]byte, 0, wisp.HeaderLen+19+len(b)), c.id, ap, b)); err != nil {
		return 0, c.opErr("write", err)
	}
	return len(b), nil
}

// WriteToHost sends one datagram to host:port from a bound socket; the
// relay resolves and checks the name.
func (c *UDPConn) WriteToHost(b []byte, host string, port uint16) (int, error) {
	if !c.bound {
		return 0, c.opErr("write", errors.New("WriteToHost on a connected socket"))
	}
	if err := c.checkSend(len(b), false); err != nil {
		return 0, c.opErr("write", err)
	}
	frame, err := wisp.AppendDatagramTo(nil, c.id, host, port, b)
	if err == nil {
		err = c.send(frame)
	}
	if err != nil {
		return 0, c.opErr("write", err)
	}
	return len(b), nil
}

// request sends an options or join packet and waits for the relay's result.
func (c *UDPConn) request(ctx context.Context, frame []byte) error {
	if !c.s.Extension(wisp.ExtBoundUDP) {
		return fmt.Errorf("wisp: server does not offer UDP socket options: %w", errors.ErrUnsupported)
	}
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	select {
	case <-c.results: // a stale answer of a cancelled request
	default:
	}
	if err := c.s.enqueue(frame); err != nil {
		return err
	}
	select {
	case r := <-c.results:
		if r != 0 {
			return &wisp.CloseError{Reason: r}
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closed.C:
		return net.ErrClosed
	case <-c.s.done.C:
		return c.s.lost()
	}
}

// SetOptions applies socket options at the relay.
func (c *UDPConn) SetOptions(ctx context.Context, o wisp.UDPOptions) error {
	return c.request(ctx, wisp.AppendUDPOptions(nil, c.id, o))
}

// Join joins a multicast group at the relay.
func (c *UDPConn) Join(ctx context.Context, group netip.Addr) error {
	return c.request(ctx, wisp.AppendJoin(nil, c.id, group))
}

// Close closes the socket.
func (c *UDPConn) Close() error {
	if c.closed.Done() {
		return c.opErr("close", net.ErrClosed)
	}
	c.closed.Close()
	c.forget()
	c.link.Detach()
	c.mu.Lock()
	remoteGone := c.rerr != nil
	c.q = nil
	c.mu.Unlock()
	if !remoteGone {
		c.s.enqueue(wisp.AppendClose(nil, c.id, wisp.ReasonVoluntary))
	}
	c.s.rtcRelease(c)
	return nil
}

// ID is the Wisp stream id.
func (c *UDPConn) ID() uint32 { return c.id }

// SetReadDeadline sets the read deadline.
func (c *UDPConn) SetReadDeadline(t time.Time) error { c.rdl.Set(t); return nil }

// SetWriteDeadline sets the write deadline.
func (c *UDPConn) SetWriteDeadline(t time.Time) error { c.wdl.Set(t); return nil }
