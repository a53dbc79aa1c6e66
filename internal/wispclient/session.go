// Package wispclient is sockshim's Wisp client: one WebSocket session carrying
// many streams, each a net.Conn. It runs natively and under GOOS=js (where
// coder/websocket wraps the browser's WebSocket, whose Write never blocks:
// the per-stream credit is what paces it).
package wispclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/cork"
	"github.com/sockshim/sockshim/internal/netutil"
	"github.com/sockshim/sockshim/internal/resume"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wsmsg"
)

// Subprotocol is offered on every dial; a server that echoes it speaks v2.
const Subprotocol = "wisp-v2"

// MaxPayload is the largest DATA payload a stream sends in one packet.
const MaxPayload = 64 << 10

// maxMessage bounds a message the client accepts from a server: a DATA
// packet of up to 1 MiB plus header.
const maxMessage = 1<<20 + wisp.HeaderLen

// Options configure a session. The zero value offers Wisp v2 without a
// credential.
type Options struct {
	// AppID and Secret are sent in the v2 password extension when the
	// server asks for it.
	AppID, Secret string
	// Header is sent with the WebSocket handshake (ignored in browsers,
	// which set Origin themselves).
	Header http.Header
	// V1 forces Wisp v1 (no subprotocol, no extensions).
	V1 bool
	// HandshakeTimeout bounds the WebSocket and Wisp handshake; zero means 10 s.
	HandshakeTimeout time.Duration
	// Window is the relay-to-client credit per stream, in bytes, offered
	// with sockshim's flow-control extension: the most a stream buffers
	// unread. Zero means DefaultWindow.
	Window uint32
	// PeerTimeout is how long the session waits without hearing from the
	// relay before it counts the relay as dead and ends, with an error
	// wrapping ErrPeerTimeout. While idle the session asks the relay to
	// answer (a sockshim PING, ExtLiveness; natively a WebSocket ping for
	// other servers) every PeerTimeout/4. Zero means DefaultPeerTimeout;
	// negative turns the check off. In a browser a server without
	// ExtLiveness cannot be checked (JS cannot send WebSocket pings).
	PeerTimeout time.Duration
	// Resume configures session resume (resume.go): on by default, used
	// when the server offers it.
	Resume ResumeOptions
	// OnStatus, if set, is called on every status change of the session,
	// one call at a time, in order (resume.go): StatusConnected before Dial
	// returns, StatusReconnecting (cause: how the WebSocket was lost, as
	// sessionEnd names it) and StatusConnected again for each resume, and
	// StatusClosed (cause: the session's end, as Err) last. It must not
	// block, nor call back into the session.
	OnStatus func(st Status, cause error)
}

// DefaultPeerTimeout is the default Options.PeerTimeout: 20 s.
const DefaultPeerTimeout = 20 * time.Second

// DefaultWindow is the default per-stream receive window: 256 KiB.
const DefaultWindow = 256 << 10

// Session is one Wisp connection.
type Session struct {
	conn      *wsmsg.Conn   // coder/websocket's natively; the browser's own in js (wsmsg)
	out       *cork.Conn    // under conn's writer (native); nil in a browser
	rd        *wsmsg.Reader // one reused buffer for every message read
	v2        bool
	info      wisp.Info // the server's INFO (v2)
	sockshim  bool      // both sides speak sockshim's extension
	udp       bool
	halfClose bool               // both sides speak ExtHalfClose
	window    uint32             // per-stream receive window when both speak ExtFlowControl; 0: off
	canListen bool               // both sides speak ExtListen
	profile   *wisp.RelayProfile // the server's relay profile (profile.go), if any
	relayTLS  bool               // the server lists ExtRelayTLS (profile.go)
	// listenAck: the relay answers a listener's CLOSE once its socket is
	// closed (its ExtListen record's payload has ListenFlagCloseAck).
	listenAck bool
	liveness  bool // both sides speak ExtLiveness
	// tcpControl: both sides speak ExtTCPControl (tcpcontrol.go).
	tcpControl bool
	nonce      atomic.Uint32 // PING and STATS_REQUEST nonces
	pings      pings         // PINGs awaiting their PONG, round trips measured (tcpcontrol.go)
	initial    uint32        // initial per-stream credit from CONTINUE(0)
	lastRecv   atomic.Int64  // unix nanoseconds of the last message read
	ctx        context.Context
	cancel     context.CancelFunc
	done       *netutil.Once
	closeErr   error
	writeMu    sync.Mutex
	outq       [][]byte
	writing    bool // a goroutine is writing frames (writeLoop or send)
	outSignal  netutil.Signal

	mu     sync.Mutex
	ids    map[uint32]entry // every stream, UDP socket and listener (ids.go)
	nextID uint32
	dg     datagramState // the WebRTC peer (rtc.go)

	// Session resume (resume.go): nil unless negotiated.
	rc       *resume.Conn
	res      *clientResume
	onStatus func(Status, error)
	statusMu sync.Mutex  // serializes onStatus calls (resume.go)
	brk      brokerState // the socket broker's requests (broker.go)
}

// Dial opens a session to a Wisp endpoint (a ws:// or wss:// URL ending
// in "/").
func Dial(ctx context.Context, url string, opts *Options) (*Session, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.PeerTimeout == 0 {
		o.PeerTimeout = DefaultPeerTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, o.HandshakeTimeout)
	defer cancel()
	conn, out, err := dial(hctx, url, &o)
	if err != nil {
		return nil, fmt.Errorf("wisp: dial %s: %w", url, err)
	}
	conn.SetReadLimit(maxMessage)
	s := &Session{
		conn:      conn,
		out:       out,
		v2:        conn.Subprotocol() == Subprotocol,
		done:      netutil.NewOnce(),
		outSignal: netutil.NewSignal(),
		ids:       make(map[uint32]entry),
		nextID:    1,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.onStatus = o.OnStatus
	err = s.handshake(hctx, &o)
	if err == nil {
		err = s.startResume(hctx, url, &o)
	}
	if err != nil {
		conn.Close(websocket.StatusProtocolError, "handshake failed")
		s.cancel()
		return nil, err
	}
	s.lastRecv.Store(time.Now().UnixNano())
	s.notifyStatus(StatusConnected, nil)
	go s.readLoop()
	go s.writeLoop()
	if o.PeerTimeout > 0 {
		go s.keepalive(o.PeerTimeout)
	}
	return s, nil
}

func (s *Session) readPacket(ctx context.Context) (wisp.Packet, error) {
	if s.rd == nil {
		s.rd = wsmsg.NewReader(s.conn)
	}
	var typ websocket.MessageType
	var b []byte
	var err error
	if s.rc != nil {
		var l resume.Link
		typ = websocket.MessageBinary
		if b, l, err = s.rc.Read(ctx); err == nil {
			s.rd = l.(*resume.WSLink).Rd // for dataOf's Take
		}
	} else {
		typ, b, err = s.rd.Read(ctx)
	}
	if err != nil {
		return wisp.Packet{}, err
	}
	if typ != websocket.MessageBinary {
		return wisp.Packet{}, fmt.Errorf("wisp: server sent a text message")
	}
	// b is reused by the next read: copy what outlives it. DATA payloads
	// are left to the reader loop (see dataOf).
	p, err := wisp.Parse(b)
	if len(p.Data) > 0 && p.Type != wisp.TypeData {
		p.Data = bytes.Clone(p.Data)
	}
	for i := range p.Info.Extensions {
		p.Info.Extensions[i].Payload = bytes.Clone(p.Info.Extensions[i].Payload)
	}
	return p, err
}

// HandshakeError is a session refused by the server during the handshake.
type HandshakeError struct{ Reason wisp.CloseReason }

func (e *HandshakeError) Error() string { return "wisp: session refused: " + e.Reason.String() }

func (s *Session) handshake(ctx context.Context, o *Options) error {
	for {
		p, err := s.readPacket(ctx)
		if err != nil {
			return fmt.Errorf("wisp: handshake: %w", err)
		}
		if p.StreamID != 0 {
			return fmt.Errorf("wisp: handshake: unexpected %v on stream %d", p.Type, p.StreamID)
		}
		switch p.Type {
		case wisp.TypeInfo:
			if !s.v2 {
				continue
			}
			s.info = p.Info
			// One negotiation for both ends (internal/wisp): the relay
			// computes the same set from the same two INFOs.
			var pw *wisp.Password
			if o.AppID != "" {
				pw = &wisp.Password{User: o.AppID, Password: o.Secret}
			}
			mine, err := wisp.ClientInfo(p.Info, o.Window, pw)
			if err != nil {
				return err
			}
			mine.Extensions = append(mine.Extensions, resumeRecord(o)...) // resume.go
			n, err := wisp.Negotiate(p.Info, mine)
			if err != nil {
				return err
			}
			s.udp, s.sockshim, s.halfClose, s.liveness = n.UDP, n.Sockshim, n.HalfClose, n.Liveness
			s.tcpControl = n.TCPControl
			s.canListen, s.listenAck = n.Listen, n.ListenCloseAck
			s.window = n.Window
			s.readProfile(p.Info)
			if err := s.conn.Write(ctx, websocket.MessageBinary, wisp.Append(nil, &wisp.Packet{Type: wisp.TypeInfo, Info: mine})); err != nil {
				return err
			}
		case wisp.TypeContinue:
			if s.v2 && s.info.Major == 0 {
				s.v2 = false // CONTINUE before INFO: the server speaks v1
			}
			s.initial = p.Credit
			return nil
		case wisp.TypeClose:
			return &HandshakeError{Reason: p.Reason}
		default:
			return fmt.Errorf("wisp: handshake: unexpected %v", p.Type)
		}
	}
}

// V2 reports whether the session negotiated Wisp v2.
func (s *Session) V2() bool { return s.v2 }

// Extension reports whether the server advertised an extension.
func (s *Session) Extension(id wisp.ExtensionID) bool {
	_, ok := s.info.Find(id)
	return ok
}

// Done is closed when the session ends.
func (s *Session) Done() <-chan struct{} { return s.done.C }

// Err is why the session ended, once Done is closed.
func (s *Session) Err() error {
	<-s.done.C
	return s.closeErr
}

// Close ends the session and every stream on it.
func (s *Session) Close() error {
	s.fail(fmt.Errorf("wisp: session closed: %w", net.ErrClosed))
	return nil
}

// CloseWithError is Close with the cause the session's streams, sockets
// and listeners then report (wrapped with ErrSessionLost and
// net.ErrClosed).
func (s *Session) CloseWithError(cause error) error {
	s.fail(fmt.Errorf("%w: %w", cause, net.ErrClosed))
	return nil
}

// fail ends the session with err, the cause every stream, socket and
// listener on it then reports (wrapped with ErrSessionLost, see lost).
func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.done.Done() {
		s.mu.Unlock()
		return
	}
	s.closeErr = err
	s.done.Close()
	ids := s.ids
	s.ids = map[uint32]entry{}
	s.mu.Unlock()
	lost := s.lost()
	for _, e := range ids {
		switch {
		case e.stream != nil:
			e.stream.remoteClosed(lost)
		case e.udp != nil:
			e.udp.remoteClosed(lost)
		case e.listener != nil:
			e.listener.failed(lost)
		}
	}
	if s.rc != nil {
		s.endResume(err) // before cancel, which would drop the WebSocket without a close frame
		s.cancel()
		return
	}
	s.notifyStatus(StatusClosed, err)
	s.cancel()
	if errors.Is(err, net.ErrClosed) {
		closeBounded(func() {
			if s.out != nil {
				s.out.Open() // as WSLink.CloseHandshake: the close frame must not wait behind a cork
			}
			s.conn.Close(websocket.StatusNormalClosure, "")
		}, s.out)
	} else {
		s.conn.CloseNow() // the connection is broken or the relay is gone
	}
}

// lost is the error of an operation that failed because the session ended:
// it wraps ErrSessionLost and the cause (see sessionEnd). Call it only
// once done is closed.
func (s *Session) lost() error { return fmt.Errorf("%w: %w", ErrSessionLost, s.closeErr) }

// ErrSessionLost is wrapped by stream errors caused by the session ending,
// together with the cause: a local Close (net.ErrClosed), a connection the
// relay dropped or reset (syscall.ECONNRESET), one it closed
// (syscall.ECONNABORTED, with the WebSocket close status or a
// *SessionClosedError), or a relay that stopped answering (ErrPeerTimeout).
var ErrSessionLost = errors.New("wisp: session lost")

// ErrPeerTimeout is wrapped by the error of a session that heard nothing
// from the relay for Options.PeerTimeout: the relay or the network to it is
// dead. It is a net.Error timeout and matches os.ErrDeadlineExceeded.
var ErrPeerTimeout error = peerTimeoutError{}

type peerTimeoutError struct{}

func (peerTimeoutError) Error() string        { return "wisp: the relay stopped answering" }
func (peerTimeoutError) Timeout() bool        { return true }
func (peerTimeoutError) Temporary() bool      { return true }
func (peerTimeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// SessionClosedError is a session the relay ended with a CLOSE on stream 0
// after the handshake (say, its app was removed by a reload). It wraps
// syscall.ECONNABORTED.
type SessionClosedError struct{ Reason wisp.CloseReason }

func (e *SessionClosedError) Error() string {
	return "wisp: the relay closed the session: " + e.Reason.String()
}
func (e *SessionClosedError) Unwrap() error { return syscall.ECONNABORTED }

// sessionEnd names why reading the WebSocket failed, where it enters: a
// connection the relay dropped without a close frame (killed, reset) wraps
// syscall.ECONNRESET; one it closed with a close frame wraps
// syscall.ECONNABORTED; the original error stays in the chain.
func sessionEnd(err error) error {
	var ce websocket.CloseError
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, ErrPeerTimeout):
		return err
	case errors.As(err, &ce) && ce.Code != websocket.StatusAbnormalClosure:
		return fmt.Errorf("wisp: the relay closed the WebSocket: %w (%w)", syscall.ECONNABORTED, err)
	case errors.As(err, &ce), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("wisp: the relay dropped the connection: %w (%w)", syscall.ECONNRESET, err)
	}
	return err
}

// keepalive ends the session when nothing arrived from the relay for
// timeout, asking the relay to answer every timeout/4 while it is quiet.
func (s *Session) keepalive(timeout time.Duration) {
	step := timeout / 4
	t := time.NewTimer(step)
	defer t.Stop()
	var pinging atomic.Bool // a WebSocket ping is in flight
	for {
		select {
		case <-s.done.C:
			return
		case <-t.C:
		}
		if s.rc != nil && !s.rc.Connected() {
			s.lastRecv.Store(time.Now().UnixNano()) // reconnecting (resume.go): nothing to check
		}
		last := time.Unix(0, s.lastRecv.Load())
		idle := time.Since(last)
		if idle >= timeout && s.rc != nil {
			s.rc.LinkDown(fmt.Errorf("wisp: nothing from the relay in %v: %w", idle.Round(time.Millisecond), ErrPeerTimeout))
			s.lastRecv.Store(time.Now().UnixNano())
		} else if idle >= timeout {
			s.fail(fmt.Errorf("wisp: nothing from the relay in %v: %w", idle.Round(time.Millisecond), ErrPeerTimeout))
			return
		}
		if idle >= step {
			switch {
			case s.liveness:
				s.sendPing(nil) // its PONG is a round trip sample too (tcpcontrol.go)
			case canWebSocketPing && pinging.CompareAndSwap(false, true):
				go func() {
					defer pinging.Store(false)
					ctx, cancel := context.WithTimeout(s.ctx, timeout)
					defer cancel()
					if s.conn.Ping(ctx) == nil {
						s.lastRecv.Store(time.Now().UnixNano())
					}
				}()
			}
		}
		// Wake at the next multiple of step after the last message.
		next := step * (idle/step + 1)
		t.Reset(next - idle)
	}
}

func (s *Session) readLoop() {
	for {
		p, err := s.readPacket(s.ctx)
		if err != nil {
			if s.ctx.Err() == nil {
				err = sessionEnd(err)
			}
			s.fail(err)
			return
		}
		s.lastRecv.Store(time.Now().UnixNano())
		if p.Type == wisp.TypeTransferred || p.Type == wisp.TypeHeld {
			s.brokerPacket(&p) // broker.go
			continue
		}
		if p.StreamID == 0 {
			switch p.Type {
			case wisp.TypeClose:
				s.fail(&SessionClosedError{Reason: p.Reason})
				return
			case wisp.TypePing, wisp.TypePong:
				if nonce, err := wisp.ParsePing(p.Data); err == nil && s.liveness && p.Type == wisp.TypePing {
					s.enqueue(wisp.AppendPong(nil, nonce))
				} else if err == nil && s.liveness {
					s.pong(nonce) // tcpcontrol.go
				}
				continue
			}
		}
		e := s.lookup(p.StreamID)
		if p.Type == wisp.TypeData {
			if st := e.stream; st != nil {
				st.deliver(s.dataOf(p.Data))
				continue
			}
			p.Data = bytes.Clone(p.Data) // UDP: routeDatagram sees it first
		}
		if s.routeDatagram(&p, e.udp) {
			continue
		}
		if p.Type == wisp.TypeAccepted && s.canListen {
			if err := s.accepted(&p); err != nil {
				s.fail(err)
				return
			}
			continue
		}
		if l := e.listener; l != nil {
			if err := l.handle(&p); err != nil {
				s.fail(err)
				return
			}
			continue
		}
		st := e.stream
		if st == nil {
			continue // late packet for a stream closed locally
		}
		switch p.Type {
		case wisp.TypeFin:
			if s.halfClose {
				st.remoteFin()
			}
		case wisp.TypeContinue:
			st.setCredit(p.Credit)
		case wisp.TypeClose:
			s.forget(st.id, st)
			if p.Reason == wisp.ReasonVoluntary {
				st.remoteClosed(nil)
			} else {
				st.remoteClosed(s.closeError(p.Reason))
			}
		case wisp.TypeStats:
			if s.tcpControl {
				st.gotStats(p.Data) // tcpcontrol.go
			}
		case wisp.TypeOpened:
			o, err := wisp.ParseOpened(p.Data)
			if err != nil {
				s.fail(err)
				return
			}
			st.opened(o)
		}
	}
}

// dataOf makes b, a DATA payload in the message just read, outlive the
// next read: a large one takes the read buffer itself (no copy), a small
// one is copied (a taken buffer would pin far more than it holds).
func (s *Session) dataOf(b []byte) chunk {
	if len(b) >= wsmsg.TakeMin {
		return chunk{b: b, owner: s.rd.Take()}
	}
	return chunk{b: bytes.Clone(b)}
}

// enqueue hands a frame to the writer. Frames keep their order; DATA frames
// are bounded by stream credit, so the queue is bounded too. It never
// blocks, so the session reader may call it.
func (s *Session) enqueue(frame []byte) error {
	s.writeMu.Lock()
	if s.done.Done() {
		s.writeMu.Unlock()
		return s.lost()
	}
	s.outq = append(s.outq, frame)
	busy := s.writing
	s.writeMu.Unlock()
	if !busy {
		s.outSignal.Notify()
	} // else the writer looks at the queue again when it is done
	return nil
}

// send writes frame itself when nothing is queued or being written, which
// saves the wake-up of the writer goroutine (a round trip pays it twice);
// otherwise it queues a copy, since frame may be reused when send returns.
// It can block on the socket, so never call it from the session reader.
func (s *Session) send(frame []byte) error { return s.sendUntil(frame, nil) }

// sendUntil is send for a writer with a deadline: when the frame would
// wait for room in a resumable session's replay buffer past stop, it is
// not sent, and sendUntil returns os.ErrDeadlineExceeded. (Waiting for the
// WebSocket itself is not bounded: a write given up halfway would break
// it.)
func (s *Session) sendUntil(frame []byte, stop <-chan struct{}) error {
	s.writeMu.Lock()
	if s.done.Done() {
		s.writeMu.Unlock()
		return s.lost()
	}
	if s.writing || (len(s.outq) > 0 && !writesNeverBlock) {
		s.outq = append(s.outq, bytes.Clone(frame))
		busy := s.writing
		s.writeMu.Unlock()
		if !busy {
			s.outSignal.Notify()
		}
		return nil
	}
	s.writing = true
	// Where writes never block (js), frames queued for the writer go out
	// first, here, instead of copying frame to queue it behind them.
	frames := [][]byte{frame}
	if len(s.outq) > 0 {
		frames, s.outq = append(s.outq, frame), nil
	}
	s.writeMu.Unlock()
	var err error
	if s.rc != nil {
		var n int
		n, err = s.writeResumable(frames, len(frames)-1, stop) // all but frame were queued
		if errors.Is(err, resume.ErrStopped) {
			// frame, the last, was not taken; the frames queued before it
			// (other writers') go back to the head of the queue.
			s.writeMu.Lock()
			s.outq = slices.Concat(frames[n:len(frames)-1], s.outq)
			s.writeMu.Unlock()
			s.doneWriting()
			return os.ErrDeadlineExceeded
		}
	} else {
		err = s.writeFrames(frames)
	}
	s.doneWriting()
	if err != nil {
		s.fail(sessionEnd(err))
		return s.lost()
	}
	return nil
}

// doneWriting ends a turn at writing; frames queued meanwhile go to the
// writer goroutine.
func (s *Session) doneWriting() {
	s.writeMu.Lock()
	s.writing = false
	more := len(s.outq) > 0
	s.writeMu.Unlock()
	if more {
		s.outSignal.Notify()
	}
}

// writeFrames writes frames, one message each, coalesced into as few
// syscalls as the cork buffer allows. On a resumable session they must be
// queued frames (the session's own copies, handed to the replay buffer).
func (s *Session) writeFrames(frames [][]byte) error {
	if s.rc != nil {
		_, err := s.writeResumable(frames, len(frames), nil) // the writer's batch: queued frames
		return err
	}
	if s.out != nil {
		s.out.Cork()
	}
	var err error
	for _, f := range frames {
		if err = s.conn.Write(s.ctx, websocket.MessageBinary, f); err != nil {
			break
		}
	}
	if s.out != nil {
		if uerr := s.out.Uncork(); err == nil {
			err = uerr
		}
	}
	return err
}

func (s *Session) writeLoop() {
	var batch [][]byte
	for {
		select {
		case <-s.outSignal:
		case <-s.done.C:
			return
		}
		for {
			s.writeMu.Lock()
			if s.writing || len(s.outq) == 0 {
				s.writeMu.Unlock()
				break
			}
			s.writing = true
			batch, s.outq = s.outq, batch[:0]
			s.writeMu.Unlock()
			err := s.writeFrames(batch)
			clear(batch)
			s.writeMu.Lock()
			s.writing = false
			s.writeMu.Unlock()
			if err != nil {
				s.fail(sessionEnd(err))
				return
			}
		}
	}
}

// Open sends CONNECT and returns the stream. When the server speaks
// sockshim's extension, Open waits for the destination connection (OPENED)
// or its failure (CLOSE); otherwise failures surface on the first Read.
func (s *Session) Open(ctx context.Context, typ wisp.StreamType, host string, port uint16) (*Stream, error) {
	if typ == wisp.StreamUDP && s.v2 && !s.udp {
		return nil, s.errNoUDP()
	}
	if err := s.errNoRelayTLS(typ); err != nil {
		return nil, err
	}
	return s.open(ctx, typ, func(id uint32) []byte {
		return wisp.Append(nil, &wisp.Packet{Type: wisp.TypeConnect, StreamID: id, StreamType: typ, Port: port, Host: host})
	})
}

// open registers a stream, sends what connect builds for its id (CONNECT,
// CONNECT_OPTIONS) and waits as Open does.
func (s *Session) open(ctx context.Context, typ wisp.StreamType, connect func(id uint32) []byte) (*Stream, error) {
	st := newStream(s, typ)
	id, err := s.register(entry{stream: st}, 0)
	if err != nil {
		return nil, err
	}
	if err := s.send(connect(id)); err != nil {
		s.forget(id, st)
		return nil, err
	}
	if !s.sockshim {
		st.markOpen()
		return st, nil
	}
	select {
	case <-st.openCh:
		st.mu.Lock()
		err, opened := st.rerr, st.isOpened || len(st.recv) > 0
		st.mu.Unlock()
		if !opened && err != nil {
			if err == io.EOF {
				err = errBrokenPipe
			}
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
