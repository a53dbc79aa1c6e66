package relay

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/sockshim/sockshim/internal/netutil"
	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/udpopt"
	"github.com/sockshim/sockshim/internal/udpsock"
	"github.com/sockshim/sockshim/internal/wisp"
)

// udpQueueLen bounds the client datagrams waiting for a UDP stream's
// socket (before it opens, or while a host name resolves). Past it,
// datagrams are dropped, as a full socket buffer would.
const udpQueueLen = 256

// udpItem is one client request for a UDP stream's writer.
type udpItem struct {
	typ   wisp.Type // TypeData, TypeDatagram, TypeDatagramTo, TypeUDPOptions, TypeJoin
	data  []byte
	peer  netip.AddrPort
	host  string
	port  uint16
	opts  wisp.UDPOptions
	group netip.Addr
	ack   chan struct{} // a handoff marker (typ 0): the writer closes it and stops
}

// udpStream is one client UDP socket: a connected stream (Wisp stream type
// 0x02: DATA packets are whole datagrams, no CONTINUE credit) or a bound one
// (ExtBoundUDP: DATAGRAM packets carry the peer). Client requests go
// through a queue to one writer goroutine, so a host name being resolved
// never stalls the session reader and requests keep their order.
type udpStream struct {
	s     *session
	id    uint32
	bound bool
	queue chan udpItem
	done  *netutil.Once

	mu        sync.Mutex
	sock      *udpsock.Socket
	channel   interface{ Close() error } // the WebRTC data channel, if any
	closeOnce sync.Once

	link    wisp.DatagramChannel // the data channel's link, while it is open
	dropped atomic.Uint64

	keepSock   atomic.Bool   // close leaves the socket open: the broker has it (broker_udp.go)
	readerDone *netutil.Once // the reader returned
}

// connectUDP opens a connected UDP stream (CONNECT with stream type 0x02).
func (s *session) connectUDP(p *wisp.Packet) {
	s.openUDP(p.StreamID, false, func(ctx context.Context, app *policy.App) (*udpsock.Socket, error) {
		return udpsock.Dial(ctx, s.srv.engine, app, p.Host, p.Port)
	})
}

// bindUDP opens a bound UDP stream (BIND, ExtBoundUDP).
func (s *session) bindUDP(p *wisp.Packet) {
	b, err := wisp.ParseBind(p.Data)
	if err != nil || p.StreamID == 0 || b.Flags&^wisp.BindReuseAddress != 0 {
		s.closeStream(p.StreamID, wisp.ReasonInvalid)
		return
	}
	s.openUDP(p.StreamID, true, func(ctx context.Context, app *policy.App) (*udpsock.Socket, error) {
		return udpsock.Bind(ctx, s.srv.engine, app, b.Local, b.Flags&wisp.BindReuseAddress != 0)
	})
}

// routeUDP handles one packet for an open UDP stream.
func (s *session) routeUDP(st *udpStream, p *wisp.Packet) {
	var it udpItem
	var err error
	switch p.Type {
	case wisp.TypeData:
		if st.bound {
			err = errors.New("DATA on a bound UDP stream")
		}
		it = udpItem{typ: wisp.TypeData, data: bytes.Clone(p.Data)}
	case wisp.TypeDatagram:
		it.typ = wisp.TypeDatagram
		it.peer, it.data, err = wisp.ParseDatagram(p.Data)
		if err == nil && !st.bound {
			err = errors.New("DATAGRAM on a connected UDP stream")
		}
	case wisp.TypeDatagramTo:
		it.typ = wisp.TypeDatagramTo
		it.host, it.port, it.data, err = wisp.ParseDatagramTo(p.Data)
		if err == nil && !st.bound {
			err = errors.New("DATAGRAM_TO on a connected UDP stream")
		}
	case wisp.TypeUDPOptions:
		it.typ = wisp.TypeUDPOptions
		it.opts, err = wisp.ParseUDPOptions(p.Data)
	case wisp.TypeJoin:
		it.typ = wisp.TypeJoin
		it.group, err = wisp.ParseJoin(p.Data)
	default:
		return // FIN, GRANT, CONTINUE mean nothing on a UDP stream
	}
	if err != nil {
		s.log.Info("relay: bad UDP packet", "stream", p.StreamID, "type", p.Type.String(), "err", err)
		st.close(wisp.ReasonInvalid)
		return
	}
	st.enqueue(it)
}

func (s *session) openUDP(id uint32, bound bool, open func(context.Context, *policy.App) (*udpsock.Socket, error)) {
	if id == 0 {
		s.write(wisp.AppendClose(nil, 0, wisp.ReasonInvalid))
		return
	}
	st := newUDPStream(s, id, bound)
	release, ok := s.register(id, member{udp: st})
	if !ok {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer release()
		st.run(open)
	}()
}

func newUDPStream(s *session, id uint32, bound bool) *udpStream {
	return &udpStream{s: s, id: id, bound: bound, queue: make(chan udpItem, udpQueueLen), done: netutil.NewOnce(), readerDone: netutil.NewOnce()}
}

func (s *session) udpStream(id uint32) *udpStream { return s.member(id).udp }

func (st *udpStream) enqueue(it udpItem) {
	select {
	case st.queue <- it:
	default:
		st.dropped.Add(1)
	}
}

// close ends the stream; a non-zero reason is sent to the client.
func (st *udpStream) close(r wisp.CloseReason) {
	st.closeOnce.Do(func() {
		st.done.Close()
		s := st.s
		s.unregister(st.id, member{udp: st})
		if r != 0 {
			s.write(wisp.AppendClose(nil, st.id, r))
		}
		st.link.Detach()
		st.mu.Lock()
		if st.sock != nil && !st.keepSock.Load() {
			st.sock.Close()
		}
		if st.channel != nil {
			go st.channel.Close()
		}
		st.mu.Unlock()
		if n := st.dropped.Load(); n > 0 {
			s.log.Debug("relay: UDP stream dropped datagrams", "stream", st.id, "dropped", n)
		}
	})
}

func (st *udpStream) run(open func(context.Context, *policy.App) (*udpsock.Socket, error)) {
	s := st.s
	ctx, cancel := context.WithTimeout(s.dials, s.srv.opts.DialTimeout)
	app := s.app().policy
	sock, err := open(ctx, app)
	cancel()
	if err != nil {
		st.readerDone.Close()
		st.close(reasonFor(err, s.ext.Sockshim))
		return
	}
	st.serve(sock, app, nil)
}

// serve runs an open socket: OPENED to the client (always for a bound
// socket or a sockshim client), then prefix (datagrams a broker held, as
// DATA or DATAGRAM packets), then the writer and the reader.
func (st *udpStream) serve(sock *udpsock.Socket, app *policy.App, prefix []heldDatagram) {
	s := st.s
	defer st.readerDone.Close()
	st.mu.Lock()
	if st.done.Done() {
		st.mu.Unlock()
		sock.Close()
		return
	}
	st.sock = sock
	st.mu.Unlock()
	if now := s.app().policy; now != app {
		st.setApp(now) // a reload came while the socket opened
		if st.done.Done() {
			return
		}
	}
	if s.ext.Sockshim || st.bound { // BIND is always answered
		remote, _ := sock.Connected()
		s.write(wisp.AppendOpened(nil, st.id, wisp.Opened{Remote: remote, Local: sock.LocalAddr()}))
	}
	for _, d := range prefix {
		if st.toClient(d.peer, d.data) != nil {
			st.close(0)
			return
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		st.writer(sock)
	}()
	st.reader(sock)
}

// writer carries out client requests in order.
func (st *udpStream) writer(sock *udpsock.Socket) {
	s := st.s
	for {
		var it udpItem
		select {
		case it = <-st.queue:
		case <-st.done.C:
			return
		}
		if it.ack != nil {
			close(it.ack) // broker_udp.go: everything queued before is sent
			return
		}
		var err error
		n := 0
		switch it.typ {
		case wisp.TypeData:
			n, err = sock.Write(it.data)
		case wisp.TypeDatagram:
			n, err = sock.WriteTo(it.data, it.peer)
		case wisp.TypeDatagramTo:
			ctx, cancel := context.WithTimeout(s.dials, s.srv.opts.DialTimeout)
			n, err = sock.WriteToHost(ctx, it.data, it.host, it.port)
			cancel()
		case wisp.TypeUDPOptions:
			err = sock.SetOptions(udpopt.Options{HopLimit: int(it.opts.HopLimit), DontFragment: it.opts.DontFragment, ReceiveBuffer: int(it.opts.ReceiveBuffer)})
			st.result(it.typ, err)
			continue
		case wisp.TypeJoin:
			err = sock.Join(it.group)
			st.result(it.typ, err)
			continue
		}
		s.srv.metrics.bytesToDest.Add(int64(n))
		if err != nil {
			if st.done.Done() {
				return
			}
			// A datagram is fire-and-forget: report why it was not sent
			// (sockshim clients surface it on their next send) and go on.
			st.dropped.Add(1)
			if st.bound {
				st.result(wisp.TypeDatagram, err)
			}
		}
	}
}

func (st *udpStream) result(req wisp.Type, err error) {
	var r wisp.CloseReason
	if err != nil {
		r = reasonFor(err, true)
		if errors.Is(err, udpopt.ErrNotSupported) {
			r = wisp.ReasonInvalid
		}
	}
	st.s.write(wisp.AppendUDPResult(nil, st.id, req, r))
}

// reader sends each received datagram to the client, on the data channel
// when one is open, otherwise as a Wisp packet.
func (st *udpStream) reader(sock *udpsock.Socket) {
	s := st.s
	buf := make([]byte, 64+udpopt.MaxPayload6)
	for {
		n, peer, err := sock.ReadFrom(buf[64:])
		if err != nil {
			if st.done.Done() {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // an ICMP error on a connected socket: UDP goes on
			}
			st.close(reasonFor(err, s.ext.Sockshim))
			return
		}
		if st.toClient(peer, buf[64:64+n]) != nil {
			st.close(0)
			return
		}
	}
}

// toClient sends one datagram to the client, on the data channel when one
// is open, otherwise as a Wisp packet.
func (st *udpStream) toClient(peer netip.AddrPort, data []byte) error {
	s := st.s
	n := len(data)
	s.srv.metrics.bytesToClient.Add(int64(n))
	if st.link.Send(st.bound, peer, data) {
		return nil
	}
	var pkt []byte
	if st.bound {
		pkt = wisp.AppendDatagram(make([]byte, 0, wisp.HeaderLen+19+n), st.id, peer, data)
	} else {
		pkt = wisp.AppendData(make([]byte, 0, wisp.HeaderLen+n), st.id, data)
	}
	return s.writeDatagram(pkt)
}

// fromChannel takes one data channel message for this stream: a whole
// datagram (connected) or a peer endpoint and a datagram (bound).
func (st *udpStream) fromChannel(msg []byte) {
	if !st.bound {
		st.enqueue(udpItem{typ: wisp.TypeData, data: msg})
		return
	}
	peer, data, err := wisp.ParseDatagram(msg)
	if err != nil {
		st.dropped.Add(1)
		return
	}
	st.enqueue(udpItem{typ: wisp.TypeDatagram, peer: peer, data: data})
}

// setApp makes app decide the stream's later datagrams (a config reload);
// a connected stream whose peer app denies is closed (blocked).
func (st *udpStream) setApp(app *policy.App) {
	st.mu.Lock()
	sock := st.sock
	st.mu.Unlock()
	if sock == nil {
		return // still opening: it reads the app when it opens
	}
	sock.SetApp(app)
	if err := sock.CheckConnected(); err != nil {
		st.s.log.Info("relay: UDP stream closed by a config reload", "stream", st.id, "err", err)
		st.close(wisp.ReasonBlocked)
	}
}
