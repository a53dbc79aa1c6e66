package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/sockshim/sockshim/internal/netutil"
	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/wisp"
)

// readBufSize is the largest DATA payload the relay sends from one TCP read.
const readBufSize = 32 << 10

// tcpStream is one client stream to a TCP destination.
//
// Client-to-relay flow control is Wisp's CONTINUE credit, kept exact: the
// relay counts the packets it has allowed in total (allowed) and consumed
// (written to TCP). A new grant is cap-(allowed-consumed), so even if every
// packet the client could still send under older grants is in flight, the
// queue (capacity cap) never overflows. A client that sends more than
// allowed broke the protocol: its stream is closed with ReasonThrottled,
// never silently dropped.
type tcpStream struct {
	s   *session
	id  uint32
	cap uint32

	queue    chan []byte   // client DATA waiting for TCP
	received uint32        // touched only by the session reader
	allowed  atomic.Uint32 // raised by the pump before each CONTINUE
	gone     atomic.Bool   // the client sent CLOSE

	mu        sync.Mutex
	conn      net.Conn
	done      *netutil.Once
	abortOnce sync.Once
}

func newTCPStream(s *session, id uint32) *tcpStream {
	c := s.srv.opts.StreamCredit
	st := &tcpStream{s: s, id: id, cap: c, queue: make(chan []byte, c), done: netutil.NewOnce()}
	st.allowed.Store(c)
	return st
}

// fromClient queues a DATA payload; it runs on the session reader.
func (st *tcpStream) fromClient(b []byte) {
	st.received++
	if st.received > st.allowed.Load() {
		st.s.log.Warn("relay: client overran its stream credit", "stream", st.id, "allowed", st.allowed.Load())
		st.s.forget(st)
		st.abort(wisp.ReasonThrottled)
		return
	}
	select {
	case st.queue <- b:
	default: // unreachable while the accounting above holds
		st.s.forget(st)
		st.abort(wisp.ReasonThrottled)
	}
}

// clientClosed handles the client's CLOSE: queued data is still written to
// the destination, then the connection is closed.
func (st *tcpStream) clientClosed(r wisp.CloseReason) {
	st.gone.Store(true)
	close(st.queue)
}

// abort ends the stream at once; a non-zero reason is sent to the client.
func (st *tcpStream) abort(r wisp.CloseReason) {
	st.abortOnce.Do(func() {
		st.done.Close()
		st.s.forget(st)
		if r != 0 && !st.gone.Load() {
			st.s.write(wisp.AppendClose(nil, st.id, r))
		}
		st.mu.Lock()
		if st.conn != nil {
			st.conn.Close()
		}
		st.mu.Unlock()
	})
}

func (st *tcpStream) run(host string, port uint16) {
	s := st.s
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.opts.DialTimeout)
	conn, err := st.dial(ctx, host, port)
	cancel()
	if err != nil {
		st.abort(reasonFor(err, s.sockshim))
		return
	}
	st.mu.Lock()
	if st.done.Done() {
		st.mu.Unlock()
		conn.Close()
		return
	}
	st.conn = conn
	st.mu.Unlock()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if s.sockshim {
		o := wisp.Opened{
			Remote: addrPort(conn.RemoteAddr()),
			Local:  addrPort(conn.LocalAddr()),
		}
		s.write(wisp.AppendOpened(nil, st.id, o))
	}
	go st.pump(conn)
	st.toClient(conn)
}

func (st *tcpStream) dial(ctx context.Context, host string, port uint16) (net.Conn, error) {
	s := st.s
	var app *policy.App
	if s.app != nil {
		app = s.app.App()
	}
	target, err := s.srv.engine.Check(ctx, app, policy.OpConnect, host, port)
	if err != nil {
		var pe *policy.Error
		if errors.As(err, &pe) {
			s.log.Info("relay: connect denied", "stream", st.id, "host", host, "port", port, "reason", pe.Reason.String())
		}
		return nil, err
	}
	s.log.Debug("relay: connect allowed", "stream", st.id, "host", host, "port", port)
	if s.srv.dialer != nil {
		// An injected dialer still gets only checked addresses.
		var last error
		for _, a := range target.Addrs {
			c, err := s.srv.dialer.DialContext(ctx, "tcp", netip.AddrPortFrom(a, port).String())
			if err == nil {
				return c, nil
			}
			last = err
		}
		return nil, last
	}
	return s.srv.engine.DialTarget(ctx, nil, app, policy.OpConnect, "tcp", target)
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// pump writes client data to the destination and grants credit as it goes.
func (st *tcpStream) pump(conn net.Conn) {
	var consumed, lastGrant uint32
	for {
		var b []byte
		var ok bool
		select {
		case b, ok = <-st.queue:
		case <-st.done.C:
			return
		}
		if !ok { // the client closed; everything it sent is written
			st.abort(0)
			return
		}
		if _, err := conn.Write(b); err != nil {
			st.abort(reasonFor(err, st.s.sockshim))
			return
		}
		consumed++
		if consumed-lastGrant >= st.cap/2 && !st.gone.Load() {
			g := st.cap - (st.allowed.Load() - consumed)
			st.allowed.Add(g)
			lastGrant = consumed
			if st.s.write(wisp.AppendContinue(nil, st.id, g)) != nil {
				return
			}
		}
	}
}

// toClient copies destination data to the client as DATA packets.
func (st *tcpStream) toClient(conn net.Conn) {
	buf := make([]byte, wisp.HeaderLen+readBufSize)
	for {
		n, err := conn.Read(buf[wisp.HeaderLen:])
		if n > 0 {
			wisp.PutDataHeader(buf, st.id)
			if st.s.write(buf[:wisp.HeaderLen+n]) != nil {
				st.abort(0)
				return
			}
		}
		if err != nil {
			if st.done.Done() || st.gone.Load() {
				return
			}
			if err == io.EOF {
				st.abort(wisp.ReasonVoluntary)
			} else {
				st.abort(reasonFor(err, st.s.sockshim))
			}
			return
		}
	}
}

// reasonFor maps a dial or I/O error to a CLOSE reason. sockshim clients get
// the finer reasons of the extension range.
func reasonFor(err error, sockshim bool) wisp.CloseReason {
	fine := func(r, plain wisp.CloseReason) wisp.CloseReason {
		if sockshim {
			return r
		}
		return plain
	}
	var ne net.Error
	switch {
	case errors.Is(err, policy.ErrHostNotFound):
		return fine(wisp.ReasonHostNotFound, wisp.ReasonUnreachable)
	case errors.Is(err, policy.ErrInvalid):
		return wisp.ReasonInvalid
	case errors.Is(err, policy.ErrDenied):
		return wisp.ReasonBlocked
	case errors.Is(err, syscall.ECONNREFUSED):
		return wisp.ReasonRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return fine(wisp.ReasonReset, wisp.ReasonNetworkError)
	case errors.Is(err, syscall.ENETUNREACH):
		return fine(wisp.ReasonNetUnreachable, wisp.ReasonUnreachable)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return wisp.ReasonUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return wisp.ReasonTimeout
	}
	return wisp.ReasonNetworkError
}
