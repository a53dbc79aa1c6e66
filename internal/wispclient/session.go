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
	"net/http"
	"sync"
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
	// Resume configures session resume (resume.go): on by default, used
	// when the server offers it.
	Resume ResumeOptions
	// OnStatus, if set, is called on every status change (connected,
	// reconnecting, closed) of a resumable session. It must not block.
	OnStatus func(Status)
}

// DefaultWindow is the default per-stream receive window: 256 KiB.
const DefaultWindow = 256 << 10

// Session is one Wisp connection.
type Session struct {
	conn      *websocket.Conn
	out       *cork.Conn    // under conn's writer (native); nil in a browser
	rd        *wsmsg.Reader // one reused buffer for every message read
	v2        bool
	info      wisp.Info // the server's INFO (v2)
	sockshim  bool      // both sides speak sockshim's extension
	udp       bool
	halfClose bool   // both sides speak ExtHalfClose
	window    uint32 // per-stream receive window when both speak ExtFlowControl; 0: off
	canListen bool   // both sides speak ExtListen
	initial   uint32 // initial per-stream credit from CONTINUE(0)
	ctx       context.Context
	cancel    context.CancelFunc
	done      *netutil.Once
	closeErr  error
	writeMu   sync.Mutex
	outq      [][]byte
	writing   bool // a goroutine is writing frames (writeLoop or send)
	outSignal netutil.Signal

	mu        sync.Mutex
	streams   map[uint32]*Stream
	dg        datagramState // UDP sockets and the WebRTC peer (udp.go, rtc.go)
	listeners map[uint32]*Listener
	nextID    uint32

	// Session resume (resume.go): nil unless negotiated.
	rc       *resume.Conn
	res      *clientResume
	onStatus func(Status)
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
		streams:   make(map[uint32]*Stream),
		listeners: make(map[uint32]*Listener),
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
	go s.readLoop()
	go s.writeLoop()
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
			_, s.udp = p.Info.Find(wisp.ExtUDP)
			_, s.sockshim = p.Info.Find(wisp.ExtSockshim)
			_, s.halfClose = p.Info.Find(wisp.ExtHalfClose)
			_, s.canListen = p.Info.Find(wisp.ExtListen)
			if _, ok := p.Info.Find(wisp.ExtFlowControl); ok {
				s.window = o.Window
			}
			if err := s.sendInfo(ctx, o); err != nil {
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

func (s *Session) sendInfo(ctx context.Context, o *Options) error {
	info := wisp.Packet{Type: wisp.TypeInfo, Info: wisp.Info{Major: 2, Minor: 0}}
	info.Info.Extensions = append(info.Info.Extensions,
		wisp.Extension{ID: wisp.ExtUDP},
		wisp.Extension{ID: wisp.ExtSockshim, Payload: []byte{1}},
		wisp.Extension{ID: wisp.ExtHalfClose},
		wisp.Extension{ID: wisp.ExtFlowControl, Payload: wisp.AppendFlowControlInfo(nil, wisp.FlowControlInfo{Window: o.Window})},
		wisp.Extension{ID: wisp.ExtListen},
	)
	info.Info.Extensions = append(info.Info.Extensions, resumeRecord(o)...)
	if _, ok := s.info.Find(wisp.ExtPassword); ok && o.AppID != "" {
		pw, err := wisp.AppendPassword(nil, wisp.Password{User: o.AppID, Password: o.Secret})
		if err != nil {
			return err
		}
		info.Info.Extensions = append(info.Info.Extensions, wisp.Extension{ID: wisp.ExtPassword, Payload: pw})
	}
	return s.conn.Write(ctx, websocket.MessageBinary, wisp.Append(nil, &info))
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
	s.fail(errors.New("wisp: session closed"))
	return nil
}

func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.done.Done() {
		s.mu.Unlock()
		return
	}
	s.closeErr = err
	s.done.Close()
	streams, listeners := s.streams, s.listeners
	s.streams, s.listeners = map[uint32]*Stream{}, map[uint32]*Listener{}
	s.mu.Unlock()
	for _, st := range streams {
		st.remoteClosed(fmt.Errorf("%w: %w", ErrSessionLost, err))
	}
	for _, l := range listeners {
		l.failed(fmt.Errorf("%w: %w", ErrSessionLost, err))
	}
	if s.rc != nil {
		s.endResume(err) // before cancel, which would drop the WebSocket without a close frame
		s.cancel()
		return
	}
	s.cancel()
	s.conn.Close(websocket.StatusNormalClosure, "")
}

// ErrSessionLost is wrapped by stream errors caused by the session ending.
var ErrSessionLost = errors.New("wisp: session lost")

func (s *Session) readLoop() {
	for {
		p, err := s.readPacket(s.ctx)
		if err != nil {
			s.fail(err)
			return
		}
		if p.Type == wisp.TypeClose && p.StreamID == 0 {
			s.fail(&HandshakeError{Reason: p.Reason})
			return
		}
		if p.Type == wisp.TypeData {
			s.mu.Lock()
			st := s.streams[p.StreamID]
			s.mu.Unlock()
			if st != nil && st.typ == wisp.StreamTCP {
				st.deliver(s.dataOf(p.Data))
				continue
			}
			p.Data = bytes.Clone(p.Data) // UDP: routeDatagram sees it first
		}
		if s.routeDatagram(&p) {
			continue
		}
		if p.Type == wisp.TypeAccepted && s.canListen {
			if err := s.accepted(&p); err != nil {
				s.fail(err)
				return
			}
			continue
		}
		s.mu.Lock()
		st := s.streams[p.StreamID]
		l := s.listeners[p.StreamID]
		s.mu.Unlock()
		if l != nil && st == nil {
			if err := l.handle(&p); err != nil {
				s.fail(err)
				return
			}
			continue
		}
		if st == nil {
			continue // late packet for a stream closed locally
		}
		switch p.Type {
		case wisp.TypeData:
			st.deliver(chunk{b: p.Data})
		case wisp.TypeFin:
			if s.halfClose {
				st.remoteFin()
			}
		case wisp.TypeContinue:
			st.setCredit(p.Credit)
		case wisp.TypeClose:
			s.forget(st.id)
			if p.Reason == wisp.ReasonVoluntary {
				st.remoteClosed(nil)
			} else {
				st.remoteClosed(&wisp.CloseError{Reason: p.Reason})
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
		return ErrSessionLost
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
func (s *Session) send(frame []byte) error {
	s.writeMu.Lock()
	if s.done.Done() {
		s.writeMu.Unlock()
		return ErrSessionLost
	}
	if s.writing || len(s.outq) > 0 {
		s.outq = append(s.outq, bytes.Clone(frame))
		busy := s.writing
		s.writeMu.Unlock()
		if !busy {
			s.outSignal.Notify()
		}
		return nil
	}
	s.writing = true
	s.writeMu.Unlock()
	err := s.writeFrames([][]byte{frame})
	s.doneWriting()
	if err != nil {
		s.fail(err)
		return ErrSessionLost
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
// syscalls as the cork buffer allows.
func (s *Session) writeFrames(frames [][]byte) error {
	if s.rc != nil {
		return s.writeResumable(frames)
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
				s.fail(err)
				return
			}
		}
	}
}

func (s *Session) forget(id uint32) {
	s.mu.Lock()
	delete(s.streams, id)
	s.mu.Unlock()
}

// newID picks a free client stream id (high bit clear); s.mu is held.
func (s *Session) newID() uint32 {
	id := s.nextID
	for s.streams[id] != nil || s.listeners[id] != nil || id == 0 || id&wisp.RelayStreamBit != 0 {
		id = (id + 1) &^ wisp.RelayStreamBit
	}
	s.nextID = (id + 1) &^ wisp.RelayStreamBit
	return id
}

// Open sends CONNECT and returns the stream. When the server speaks
// sockshim's extension, Open waits for the destination connection (OPENED)
// or its failure (CLOSE); otherwise failures surface on the first Read.
func (s *Session) Open(ctx context.Context, typ wisp.StreamType, host string, port uint16) (*Stream, error) {
	if typ == wisp.StreamUDP && s.v2 && !s.udp {
		return nil, fmt.Errorf("wisp: server does not support UDP streams")
	}
	s.mu.Lock()
	if s.done.Done() {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %v", ErrSessionLost, s.closeErr)
	}
	id := s.newID()
	st := newStream(s, id, typ)
	s.streams[id] = st
	s.mu.Unlock()

	pkt := wisp.Packet{Type: wisp.TypeConnect, StreamID: id, StreamType: typ, Port: port, Host: host}
	if err := s.send(wisp.Append(nil, &pkt)); err != nil {
		s.forget(id)
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
		return nil, fmt.Errorf("%w: %v", ErrSessionLost, s.closeErr)
	}
}
