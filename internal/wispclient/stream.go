package wispclient

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sockshim/sockshim/internal/netutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wsmsg"
)

// Stream is one Wisp stream as a net.Conn.
type Stream struct {
	s   *Session
	id  uint32
	typ wisp.StreamType

	openCh   chan struct{}
	openOnce sync.Once

	mu       sync.Mutex
	recv     []chunk // pending received payloads
	rerr     error   // set when the server closed the stream; io.EOF for orderly
	credit   uint32
	endpts   wisp.Opened
	isOpened bool
	eof      bool // the server sent FIN: reads end after recv, writes go on
	wclosed  bool // CloseWrite sent FIN
	// statsWait: Stats calls waiting for their STATS, by nonce (tcpcontrol.go).
	statsWait map[uint32]chan wisp.TCPStats

	// Relay-to-client credit (ExtFlowControl), in payload bytes: the
	// server may send up to limit in total; Read grants back what the app
	// consumed in steps of at least window/2, so buffered stays <= window.
	window              uint32
	limit, received     int64
	consumed, lastGrant int64
	buffered            int

	readable  netutil.Signal
	writable  netutil.Signal
	writeSem  chan struct{} // held by one Write at a time
	closed    *netutil.Once // local Close
	rdl, wdl  *netutil.Deadline
	closeOnce sync.Once
}

// newStream returns a stream for s; register gives it its id.
func newStream(s *Session, typ wisp.StreamType) *Stream {
	return &Stream{
		s: s, typ: typ,
		credit:   s.initial,
		window:   s.window,
		limit:    int64(s.window),
		openCh:   make(chan struct{}),
		readable: netutil.NewSignal(),
		writable: netutil.NewSignal(),
		writeSem: make(chan struct{}, 1),
		closed:   netutil.NewOnce(),
		rdl:      netutil.NewDeadline(),
		wdl:      netutil.NewDeadline(),
	}
}

// ID is the Wisp stream id.
func (st *Stream) ID() uint32 { return st.id }

// Endpoints returns the relay's view of the connection, if the server sent it.
func (st *Stream) Endpoints() (wisp.Opened, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.endpts, st.isOpened
}

func (st *Stream) markOpen() { st.openOnce.Do(func() { close(st.openCh) }) }

func (st *Stream) opened(o wisp.Opened) {
	st.mu.Lock()
	st.endpts, st.isOpened = o, true
	st.mu.Unlock()
	st.markOpen()
}

// chunk is received data; owner, if set, is the read buffer it lives in,
// given back once the chunk is read (wsmsg.Take).
type chunk struct {
	b     []byte
	owner *[]byte
}

func (c chunk) release() { wsmsg.Put(c.owner) }

func (st *Stream) deliver(c chunk) {
	b := c.b
	if len(b) == 0 {
		c.release()
		return
	}
	st.mu.Lock()
	if st.window > 0 {
		st.received += int64(len(b))
		if st.received > st.limit {
			st.mu.Unlock()
			c.release()
			// The server broke the flow-control contract; bounded
			// memory matters more than this stream. Abort first: it
			// sends CLOSE(throttled) only while the stream is not
			// marked closed by the remote side.
			st.Abort(wisp.ReasonThrottled)
			st.remoteClosed(&wisp.CloseError{Reason: wisp.ReasonThrottled})
			return
		}
	}
	st.recv = append(st.recv, c)
	st.buffered += len(b)
	st.mu.Unlock()
	st.markOpen()
	st.readable.Notify()
}

func (st *Stream) setCredit(n uint32) {
	st.mu.Lock()
	st.credit = n
	st.mu.Unlock()
	st.writable.Notify()
}

// remoteFin records the server's FIN: no more data will arrive.
func (st *Stream) remoteFin() {
	st.mu.Lock()
	st.eof = true
	st.mu.Unlock()
	st.markOpen()
	st.readable.Notify()
}

// Buffered is the number of received bytes not yet read.
func (st *Stream) Buffered() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.buffered
}

// remoteClosed records the server's CLOSE; nil means an orderly close.
func (st *Stream) remoteClosed(err error) {
	if err == nil {
		err = io.EOF
	}
	st.mu.Lock()
	if st.rerr == nil {
		st.rerr = err
	}
	st.endStats() // tcpcontrol.go
	st.mu.Unlock()
	st.markOpen()
	st.readable.Notify()
	st.writable.Notify()
}

func (st *Stream) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "wisp", Addr: st.RemoteAddr(), Err: err}
}

// Read reads received data. An orderly close by the server reads as io.EOF
// after all data; other closes return a *wisp.CloseError.
func (st *Stream) Read(b []byte) (int, error) {
	for {
		if st.closed.Done() {
			return 0, st.opErr("read", net.ErrClosed)
		}
		if st.rdl.Expired() {
			return 0, st.opErr("read", os.ErrDeadlineExceeded)
		}
		st.mu.Lock()
		if len(st.recv) > 0 {
			n := 0
			for n < len(b) && len(st.recv) > 0 {
				c := copy(b[n:], st.recv[0].b)
				n += c
				if c == len(st.recv[0].b) {
					st.recv[0].release()
					st.recv[0] = chunk{}
					st.recv = st.recv[1:]
				} else {
					st.recv[0].b = st.recv[0].b[c:]
				}
				if st.typ == wisp.StreamUDP {
					break // one datagram per Read
				}
			}
			st.buffered -= n
			more := len(st.recv) > 0 || st.rerr != nil || st.eof
			var grant uint32
			if st.window > 0 && st.rerr == nil && !st.eof {
				st.consumed += int64(n)
				if g := st.consumed - st.lastGrant; g >= int64(st.window/2) {
					grant = uint32(g)
					st.lastGrant = st.consumed
					st.limit += g
				}
			}
			st.mu.Unlock()
			if grant > 0 {
				st.s.enqueue(wisp.AppendGrant(nil, st.id, grant))
			}
			if more {
				st.readable.Notify()
			}
			return n, nil
		}
		rerr, eof := st.rerr, st.eof
		st.mu.Unlock()
		if rerr != nil {
			if rerr == io.EOF {
				return 0, io.EOF
			}
			return 0, st.opErr("read", rerr)
		}
		if eof {
			return 0, io.EOF
		}
		select {
		case <-st.readable:
		case <-st.rdl.Wait():
		case <-st.closed.C:
		}
	}
}

// Write sends b as DATA packets of at most MaxPayload bytes, waiting for
// credit from the server. It returns once the packets are queued for the
// WebSocket, like a write into a socket buffer.
func (st *Stream) Write(b []byte) (int, error) {
	select {
	case st.writeSem <- struct{}{}:
	case <-st.wdl.Wait():
		return 0, st.opErr("write", os.ErrDeadlineExceeded)
	case <-st.closed.C:
		return 0, st.opErr("write", net.ErrClosed)
	}
	defer func() { <-st.writeSem }()
	var frame *[]byte // from framePool on the first chunk
	n := 0
	for {
		if st.closed.Done() {
			return n, st.opErr("write", net.ErrClosed)
		}
		if st.wdl.Expired() {
			return n, st.opErr("write", os.ErrDeadlineExceeded)
		}
		if n == len(b) && (n > 0 || len(b) == 0) {
			return n, nil
		}
		st.mu.Lock()
		rerr := st.rerr
		if st.wclosed {
			st.mu.Unlock()
			return n, st.opErr("write", ErrWriteClosed)
		}
		ok := st.typ == wisp.StreamUDP || st.credit > 0
		if ok && rerr == nil && st.typ != wisp.StreamUDP {
			st.credit--
		}
		st.mu.Unlock()
		if rerr != nil {
			if rerr == io.EOF {
				rerr = errBrokenPipe
			}
			return n, st.opErr("write", rerr)
		}
		if !ok {
			select {
			case <-st.writable:
			case <-st.wdl.Wait():
			case <-st.closed.C:
			}
			continue
		}
		chunk := b[n:]
		if len(chunk) > MaxPayload {
			chunk = chunk[:MaxPayload]
		}
		if frame == nil {
			frame = framePool.Get().(*[]byte)
			defer framePool.Put(frame)
		}
		*frame = wisp.AppendData((*frame)[:0], st.id, chunk)
		if err := st.s.sendUntil(*frame, st.wdl.Wait()); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && st.typ != wisp.StreamUDP {
				st.mu.Lock()
				st.credit++ // the chunk was not sent
				st.mu.Unlock()
			}
			return n, st.opErr("write", err)
		}
		n += len(chunk)
	}
}

// framePool holds DATA frames being built by Write (send copies a frame it
// cannot write at once, so each is free again when send returns).
var framePool = sync.Pool{New: func() any {
	b := make([]byte, 0, wisp.HeaderLen+MaxPayload)
	return &b
}}

var errBrokenPipe = errors.New("stream closed by the remote side")

// ErrWriteClosed is returned by Write after CloseWrite.
var ErrWriteClosed = errors.New("write after CloseWrite")

// ErrNoHalfClose is returned by CloseWrite when the server does not speak
// sockshim's half-close extension.
var ErrNoHalfClose = errors.New("wisp: server does not support half-close")

// CloseWrite sends FIN after any queued data: the server shuts the write
// side of its TCP connection, and reads go on until the server's FIN or
// CLOSE. It needs the half-close extension (ErrNoHalfClose otherwise).
// Like a TCPConn's CloseWrite it ignores the write deadline: crypto/tls
// sets that to now right after its close_notify, before this FIN. It waits
// for a Write in progress to end.
func (st *Stream) CloseWrite() error {
	if !st.s.halfClose || st.typ != wisp.StreamTCP {
		return st.opErr("close", ErrNoHalfClose)
	}
	select {
	case st.writeSem <- struct{}{}:
	case <-st.closed.C:
		return st.opErr("close", net.ErrClosed)
	}
	defer func() { <-st.writeSem }()
	st.mu.Lock()
	already, rerr := st.wclosed, st.rerr
	st.wclosed = true
	st.mu.Unlock()
	switch {
	case already:
		return nil
	case rerr != nil:
		if rerr == io.EOF {
			rerr = errBrokenPipe
		}
		return st.opErr("close", rerr)
	}
	return st.opErr("close", st.s.enqueue(wisp.AppendFin(nil, st.id)))
}

// Close sends CLOSE (after any queued data) and releases the stream.
func (st *Stream) Close() error { return st.Abort(wisp.ReasonVoluntary) }

// Abort closes the stream with a reason.
func (st *Stream) Abort(r wisp.CloseReason) error {
	err := st.opErr("close", net.ErrClosed)
	st.closeOnce.Do(func() {
		err = nil
		st.closed.Close()
		st.s.forget(st.id, st)
		st.mu.Lock()
		remoteGone := st.rerr != nil
		for _, c := range st.recv {
			c.release()
		}
		st.recv = nil
		st.mu.Unlock()
		if !remoteGone {
			st.s.enqueue(wisp.AppendClose(nil, st.id, r))
		}
	})
	return err
}

type addr string

func (a addr) Network() string { return "wisp" }
func (a addr) String() string  { return string(a) }

// LocalAddr is the relay's local endpoint of the destination connection
// when known.
func (st *Stream) LocalAddr() net.Addr {
	if o, ok := st.Endpoints(); ok {
		return net.TCPAddrFromAddrPort(o.Local)
	}
	return addr("")
}

// RemoteAddr is the address the relay dialed, when known.
func (st *Stream) RemoteAddr() net.Addr {
	if o, ok := st.Endpoints(); ok {
		return net.TCPAddrFromAddrPort(o.Remote)
	}
	return addr("")
}

func (st *Stream) SetDeadline(t time.Time) error {
	st.rdl.Set(t)
	st.wdl.Set(t)
	return nil
}
func (st *Stream) SetReadDeadline(t time.Time) error  { st.rdl.Set(t); return nil }
func (st *Stream) SetWriteDeadline(t time.Time) error { st.wdl.Set(t); return nil }
