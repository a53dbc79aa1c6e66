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
	"time"

	"github.com/sockshim/sockshim/internal/netutil"
	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/wisp"
)

// readBufSize is the largest DATA payload the relay sends from one TCP read.
// Per-message costs (a frame, a syscall, a wake-up of the client's reader)
// dominate on fast paths, so it is larger than clients' usual 32 KiB.
const readBufSize = 64 << 10

// tcpStream is one client stream to a TCP destination, or one connection
// accepted by a listener (a relay-initiated stream).
//
// Client-to-relay flow control is Wisp's CONTINUE credit, kept exact: the
// relay counts the packets it has allowed in total (allowed) and consumed
// (written to TCP). A new grant is cap-(allowed-consumed), so even if every
// packet the client could still send under older grants is in flight, the
// queue (capacity cap) never overflows. A client that sends more than
// allowed broke the protocol: its stream is closed with ReasonThrottled,
// never silently dropped.
//
// Relay-to-client flow control (ExtFlowControl) is byte credit, exact the
// same way: window is what the client allowed in total (its initial window
// plus every GRANT) minus the DATA payload bytes sent. The relay reads the
// destination only while window > 0, and never more than window bytes, so
// a stream whose reader is slow stalls only itself: its TCP receive buffer
// fills and the destination is pushed back, while the relay holds at most
// one read buffer (readBufSize) for it.
//
// Half-close (ExtHalfClose): a client FIN closes the queue; once it is
// drained the TCP write side is shut (CloseWrite). Destination EOF sends FIN.
// When both directions are done the relay sends CLOSE (voluntary).
type tcpStream struct {
	s        *session
	id       uint32
	cap      uint32
	relayTLS bool            // StreamTLS: the relay does TLS to the destination (relaytls.go)
	opts     wisp.TCPOptions // CONNECT_OPTIONS (tcpcontrol.go); zero for CONNECT

	queue       chan []byte   // client DATA waiting for TCP
	received    uint32        // touched only by the session reader
	queueClosed bool          // touched only by the session reader: FIN or CLOSE seen
	allowed     atomic.Uint32 // raised by the pump before each CONTINUE
	gone        atomic.Bool   // the client sent CLOSE

	// Client DATA goes straight from the session reader to the socket,
	// without a copy or a wake-up of the pump, when nothing is queued
	// (pending == 0) and the socket takes it without blocking; otherwise
	// what is left is copied into the queue. pending counts packets queued
	// and not yet written and granted: the pump decrements it last, so at
	// most one goroutine writes to the socket and counts consumed packets.
	pending   atomic.Int32
	sock      atomic.Pointer[rawSock] // set once the connection is open
	consumed  uint32                  // packets written, by the pump or the reader
	lastGrant uint32                  // consumed at the last CONTINUE

	flow      bool         // ExtFlowControl negotiated
	window    atomic.Int64 // bytes the relay may still send to the client
	initial   int64        // the client's initial window
	windowSig netutil.Signal

	queuedBytes atomic.Int64 // client payload bytes in queue
	heldBytes   atomic.Int64 // destination bytes read, not yet written to the WebSocket

	// The broker's handoff (broker.go): handoff is closed by TRANSFER;
	// then the pump closes drained instead of shutting the write side, the
	// reader leaves at its next read, and readerExit is closed when it has.
	// peerEOF: the reader saw the destination's EOF or an error.
	handoff, drained, readerExit *netutil.Once
	peerEOF                      atomic.Bool

	mu        sync.Mutex
	conn      net.Conn
	openedAt  time.Time // when conn was set: STATS' elapsed time counts from it
	wclosed   bool      // the TCP write side was shut after a client FIN
	pumpWant  bool      // the queue has been used (DATA the socket did not take, FIN, CLOSE)
	pumpGo    bool      // the pump was started
	halves    int       // directions finished by FIN (half-close)
	done      *netutil.Once
	abortOnce sync.Once
}

func newTCPStream(s *session, id uint32) *tcpStream {
	c := s.srv.opts.StreamCredit
	st := &tcpStream{s: s, id: id, cap: c, queue: make(chan []byte, c), done: netutil.NewOnce(), windowSig: netutil.NewSignal(),
		handoff: netutil.NewOnce(), drained: netutil.NewOnce(), readerExit: netutil.NewOnce()}
	st.allowed.Store(c)
	if s.ext.Window > 0 {
		st.flow, st.initial = true, int64(s.ext.Window)
		st.window.Store(st.initial)
	}
	return st
}

// buffered is the stream data the relay holds in memory.
func (st *tcpStream) buffered() int64 { return st.queuedBytes.Load() + st.heldBytes.Load() }

// inFlight is payload sent to the client and not yet granted back.
func (st *tcpStream) inFlight() int64 {
	if !st.flow {
		return 0
	}
	return st.initial - st.window.Load()
}

// grant adds client credit; it runs on the session reader.
func (st *tcpStream) grant(n uint32) {
	if !st.flow {
		return
	}
	if st.window.Add(int64(n)) > st.initial {
		// A client grants only bytes it has received, so the window never
		// exceeds the initial one; this client's accounting is broken.
		st.s.log.Warn("relay: client granted bytes it never received", "stream", st.id)
		st.s.forget(st)
		st.abort(wisp.ReasonInvalid)
		return
	}
	st.windowSig.Notify()
}

// fromClient writes or queues a DATA payload; it runs on the session
// reader, and b is valid only until it returns.
func (st *tcpStream) fromClient(b []byte) {
	if st.queueClosed {
		st.s.log.Info("relay: DATA after FIN", "stream", st.id)
		st.s.forget(st)
		st.abort(wisp.ReasonInvalid)
		return
	}
	st.received++
	if st.received > st.allowed.Load() {
		st.s.log.Warn("relay: client overran its stream credit", "stream", st.id, "allowed", st.allowed.Load())
		st.s.forget(st)
		st.abort(wisp.ReasonThrottled)
		return
	}
	if st.pending.Load() == 0 {
		if b = st.writeNow(b); b == nil {
			return
		}
	}
	b = copyData(b)
	st.queuedBytes.Add(int64(len(b)))
	st.pending.Add(1)
	select {
	case st.queue <- b:
		st.needPump()
	default: // unreachable while the accounting above holds
		st.s.forget(st)
		st.abort(wisp.ReasonThrottled)
	}
}

// needPump starts the pump goroutine once the queue is used and the
// connection is open (serve calls startPump for use that came first). Most
// streams never need it: their client data goes straight to the socket,
// and an idle stream costs one goroutine, not two.
func (st *tcpStream) needPump() { st.startPump(true) }

func (st *tcpStream) startPump(want bool) {
	st.mu.Lock()
	st.pumpWant = st.pumpWant || want
	conn := st.conn
	start := st.pumpWant && !st.pumpGo && conn != nil
	if start {
		st.pumpGo = true
	}
	st.mu.Unlock()
	if start {
		go st.pump(conn)
	}
}

// writeNow writes what the socket takes of b without blocking and returns
// the rest (nil when all of it was written, or the stream failed). Only the
// session reader calls it, and only while nothing is queued.
func (st *tcpStream) writeNow(b []byte) []byte {
	sock := st.sock.Load()
	if sock == nil || st.s.srv.bandwidthLimited(st.s.limits) {
		return b // not open yet, or the pump must pace it
	}
	n, err := sock.tryWrite(b)
	st.s.srv.metrics.bytesToDest.Add(int64(n))
	if err != nil {
		st.abort(reasonFor(err, st.s.ext.Sockshim))
		return nil
	}
	if n < len(b) {
		return b[n:] // still one packet: the pump counts it when done
	}
	if st.packetWritten() != nil {
		st.abort(0)
	}
	return nil
}

// packetWritten counts one client packet written to the destination and
// sends CONTINUE when half the credit is used. The pump and writeNow call
// it, never at once (see pending). On the session reader (writeNow) the
// CONTINUE can wait only for a client that does not read its WebSocket,
// which then stalls nobody but itself.
func (st *tcpStream) packetWritten() error {
	st.consumed++
	if st.consumed-st.lastGrant < st.cap/2 || st.gone.Load() {
		return nil
	}
	g := st.cap - (st.allowed.Load() - st.consumed)
	st.allowed.Add(g)
	st.lastGrant = st.consumed
	return st.s.write(wisp.AppendContinue(nil, st.id, g))
}

// clientFin handles the client's FIN (half-close): queued data is written,
// then the TCP write side is shut. It runs on the session reader.
func (st *tcpStream) clientFin() {
	if st.queueClosed {
		return // a repeated FIN changes nothing
	}
	st.queueClosed = true
	close(st.queue)
	st.needPump()
}

// clientClosed handles the client's CLOSE: queued data is still written to
// the destination, then the connection is closed.
func (st *tcpStream) clientClosed(r wisp.CloseReason) {
	st.gone.Store(true)
	if !st.queueClosed {
		st.queueClosed = true
		close(st.queue)
		st.needPump()
		return
	}
	// After a FIN the pump may already have shut the write side and left.
	st.mu.Lock()
	wc := st.wclosed
	st.mu.Unlock()
	if wc {
		st.abort(0)
	}
}

// halfDone records one direction finished by FIN; after both, the stream
// ends with CLOSE (voluntary).
func (st *tcpStream) halfDone() {
	st.mu.Lock()
	st.halves++
	both := st.halves == 2
	st.mu.Unlock()
	if both {
		st.abort(wisp.ReasonVoluntary)
	}
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
	ctx, cancel := context.WithTimeout(s.dials, s.srv.opts.DialTimeout)
	start := time.Now()
	conn, err := st.dial(ctx, host, port)
	s.srv.metrics.dialSeconds.Observe(time.Since(start).Seconds())
	cancel()
	if err != nil {
		st.abort(reasonFor(err, s.ext.Sockshim))
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	var opened []byte
	if s.ext.Sockshim {
		opened = wisp.AppendOpened(nil, st.id, wisp.Opened{
			Remote: addrPort(conn.RemoteAddr()),
			Local:  addrPort(conn.LocalAddr()),
		})
	}
	st.serve(conn, opened)
}

// serve runs the stream over an open connection; first, if not nil, is sent
// to the client before any DATA (OPENED or ACCEPTED).
func (st *tcpStream) serve(conn net.Conn, first []byte) {
	st.mu.Lock()
	if st.done.Done() {
		st.mu.Unlock()
		conn.Close()
		return
	}
	st.conn, st.openedAt = conn, time.Now()
	st.mu.Unlock()
	st.sock.Store(newRawSock(conn))
	if first != nil {
		st.s.write(first)
	}
	st.startPump(false) // if DATA, FIN or CLOSE came while dialing
	st.toClient(conn)
}

func (st *tcpStream) dial(ctx context.Context, host string, port uint16) (net.Conn, error) {
	s := st.s
	app := s.app().policy // the current config's view: a reload applies to the next stream
	check := s.srv.engine.Check
	if s.srv.opts.Edge != nil {
		check = func(_ context.Context, app *policy.App, op policy.Op, host string, port uint16) (policy.Target, error) {
			return s.srv.engine.CheckUnresolved(app, op, host, port)
		}
	}
	target, err := check(ctx, app, policy.OpConnect, host, port)
	if err != nil {
		return nil, err // logged and counted once by the engine's hook (recordDecision)
	}
	if e := s.srv.opts.Edge; e != nil {
		return st.dialEdge(ctx, e, target, st.relayTLS)
	}
	conn, err := st.dialOptions(ctx, app, target) // tcpcontrol.go
	if err != nil || !st.relayTLS {
		return conn, err
	}
	return s.srv.clientTLS(ctx, conn, target.Host) // relaytls.go
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// pump writes queued client data to the destination and grants credit as
// it goes; it runs from the first use of the queue to the stream's end.
func (st *tcpStream) pump(conn net.Conn) {
	for {
		var b []byte
		var ok bool
		select {
		case b, ok = <-st.queue:
		case <-st.done.C:
			return
		}
		if !ok {
			st.queueDrained(conn)
			return
		}
		if st.s.srv.throttle(st.s.ctx, st.done.C, st.s.limits, len(b)) != nil {
			return
		}
		n, err := conn.Write(b)
		st.s.srv.metrics.bytesToDest.Add(int64(n))
		st.queuedBytes.Add(-int64(len(b)))
		releaseData(b)
		if err != nil {
			st.abort(reasonFor(err, st.s.ext.Sockshim))
			return
		}
		if st.packetWritten() != nil {
			return
		}
		st.pending.Add(-1)
	}
}

// queueDrained runs when everything the client sent before its CLOSE or
// FIN is written: CLOSE ends the stream, FIN shuts the TCP write side.
func (st *tcpStream) queueDrained(conn net.Conn) {
	if st.handoff.Done() {
		st.drained.Close() // the broker takes the connection (broker.go)
		return
	}
	st.mu.Lock()
	if st.gone.Load() {
		st.mu.Unlock()
		st.abort(0)
		return
	}
	st.wclosed = true
	st.mu.Unlock()
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			st.abort(reasonFor(err, st.s.ext.Sockshim))
			return
		}
	} else {
		st.s.log.Debug("relay: connection cannot half-close; its write side stays open", "stream", st.id)
	}
	st.halfDone()
}

// waitWindow returns how many bytes the relay may read for the client now,
// waiting for a GRANT when the window is empty; false when the stream ends.
func (st *tcpStream) waitWindow() (int, bool) {
	for {
		if w := st.window.Load(); w > 0 {
			return int(min(w, readBufSize)), true
		}
		select {
		case <-st.windowSig:
		case <-st.done.C:
			return 0, false
		case <-st.handoff.C:
			return 0, false
		}
	}
}

// toClient copies destination data to the client as DATA packets.
func (st *tcpStream) toClient(conn net.Conn) {
	defer st.readerExit.Close()
	// A socket's read buffer comes from bufPool only while the
	// destination is sending (see rawSock.doRead); other connections keep one.
	rs := newRawSock(conn)
	var bp *buffer
	defer func() {
		if rs != nil {
			rs.release()
		} else {
			bufPool.Put(bp)
		}
	}()
	if rs == nil {
		bp = bufPool.Get().(*buffer)
	}
	for {
		want := readBufSize
		if st.flow {
			if rs != nil && st.window.Load() <= 0 {
				rs.release() // a stalled reader's stream holds no buffer either
			}
			w, ok := st.waitWindow()
			if !ok {
				return
			}
			want = w
		}
		var n int
		var err error
		var buf []byte
		if rs != nil {
			n, err = rs.read(want)
			if n > 0 {
				buf = rs.buf()
			}
		} else {
			buf = bp[:]
			n, err = conn.Read(buf[wisp.HeaderLen : wisp.HeaderLen+want])
		}
		if n > 0 {
			if st.flow {
				st.window.Add(-int64(n))
			}
			st.heldBytes.Store(int64(n))
			st.s.srv.metrics.bytesToClient.Add(int64(n))
			if st.s.srv.throttle(st.s.ctx, st.done.C, st.s.limits, n) != nil {
				st.abort(0)
				return
			}
			wisp.PutDataHeader(buf, st.id)
			var werr error
			if rs != nil && st.s.rc != nil && n >= readBufSize/2 {
				// resume.go: the replay buffer keeps the read buffer, no
				// copy (charged its size, hence only for large reads)
				werr = st.s.writeOwned(rs.take(), wisp.HeaderLen+n)
			} else {
				werr = st.s.write(buf[:wisp.HeaderLen+n])
			}
			st.heldBytes.Store(0)
			if werr != nil {
				st.abort(0)
				return
			}
		}
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				st.peerEOF.Store(true)
			}
			if st.done.Done() || st.gone.Load() || st.handoff.Done() {
				return
			}
			switch {
			case err == io.EOF && st.s.ext.HalfClose:
				if st.s.write(wisp.AppendFin(nil, st.id)) != nil {
					st.abort(0)
					return
				}
				st.halfDone()
			case err == io.EOF:
				st.abort(wisp.ReasonVoluntary)
			default:
				st.abort(reasonFor(err, st.s.ext.Sockshim))
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
	case errors.Is(err, ErrTLSFailed): // relaytls.go
		return fine(wisp.ReasonTLSFailed, wisp.ReasonNetworkError)
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
