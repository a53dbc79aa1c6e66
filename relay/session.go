package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/cork"
	"github.com/sockshim/sockshim/internal/resume"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wsmsg"
)

type session struct {
	srv       *Server
	conn      *websocket.Conn
	out       *cork.Conn // under conn's writer; nil when the server could not hijack
	origin    string
	hasOrigin bool
	log       *slog.Logger
	app       *AppConfig // nil: no app, no network
	v2        bool
	sockshim  bool   // the client speaks sockshim's extension
	halfClose bool   // both sides advertised ExtHalfClose
	window    uint32 // the client's relay-to-client window (ExtFlowControl); 0: off
	canListen bool   // both sides advertised ExtListen

	ctx    context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	streams     map[uint32]*tcpStream
	listeners   map[uint32]*listener
	nextRelayID uint32        // of relay-initiated streams, without the high bit
	closing     bool          // closeAll or shutdown ran: register nothing new
	dgram       datagramState // UDP streams and the WebRTC peer (udp.go, webrtc.go)
	wg          sync.WaitGroup

	limits         *sessionLimits // set by the handshake (limits.go)
	releaseSession func()         // gives the app's session slot back
	lastActive     atomic.Int64   // unix nanoseconds of the last message read

	// Session resume (resume.go): nil unless negotiated. rc carries every
	// packet once the handshake is done; ready says it is set.
	rc        *resume.Conn
	res       *sessionResume
	resumeReq *wisp.ResumeClientInfo
	ready     atomic.Bool
}

func newSession(srv *Server, conn *websocket.Conn, origin string, hasOrigin bool, remote string) *session {
	return &session{
		srv: srv, conn: conn, origin: origin, hasOrigin: hasOrigin,
		v2:        conn.Subprotocol() == "wisp-v2",
		streams:   map[uint32]*tcpStream{},
		listeners: map[uint32]*listener{},
		log:       srv.log.With("remote", remote, "origin", origin),
	}
}

// write sends one Wisp packet. Concurrent writers (every stream's reader,
// the pumps' CONTINUEs) share the socket through out: a packet written while
// another writer holds a cork goes out in that writer's syscall, so under
// load several packets cost one write, and a lone packet costs one instead
// of coder/websocket's two (a 4 KiB buffer, then the rest).
func (s *session) write(b []byte) error {
	if s.rc != nil {
		return s.rc.Write(s.ctx, b, false)
	}
	if s.out == nil {
		return s.conn.Write(s.ctx, websocket.MessageBinary, b)
	}
	s.out.Cork()
	err := s.conn.Write(s.ctx, websocket.MessageBinary, b)
	if uerr := s.out.Uncork(); err == nil {
		err = uerr
	}
	return err
}

func (s *session) run(ctx context.Context) {
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	defer s.cancel()
	if err := s.handshake(); err != nil {
		if errors.Is(err, errHandedOver) {
			return // the WebSocket now carries the session it resumed
		}
		s.srv.metrics.sessionsDenied.Add(1)
		s.log.Info("relay: session refused", "err", err)
		return
	}
	defer s.releaseSession()
	s.srv.metrics.sessionsTotal.Add(1)
	s.srv.metrics.sessionsOpen.Add(1)
	defer s.srv.metrics.sessionsOpen.Add(-1)
	s.lastActive.Store(time.Now().UnixNano())
	appID := ""
	if s.app != nil {
		appID = s.app.ID
	}
	s.log = s.log.With("app", appID)
	s.log.Debug("relay: session open", "v2", s.v2)
	if s.rc == nil {
		go s.keepalive(s.srv.opts.PingInterval, s.srv.opts.IdleTimeout)
	} else {
		go s.resumeIdle(s.srv.opts.IdleTimeout)
	}
	err := s.readLoop()
	s.endResume()
	s.closeAll()
	s.wg.Wait()
	var ce websocket.CloseError
	if !errors.As(err, &ce) && !errors.Is(err, context.Canceled) { // readLoop always ends with an error
		s.log.Info("relay: session ended", "err", err)
	}
	if s.rc == nil {
		s.conn.CloseNow()
	}
}

func (s *session) handshake() error {
	cfg := s.srv.Config()
	var pw *wisp.Password
	if s.v2 {
		info := wisp.Packet{Type: wisp.TypeInfo, Info: wisp.Info{Major: 2, Minor: 0}}
		info.Info.Extensions = append(info.Info.Extensions,
			wisp.Extension{ID: wisp.ExtSockshim, Payload: []byte{1}},
			wisp.Extension{ID: wisp.ExtHalfClose},
			wisp.Extension{ID: wisp.ExtFlowControl},
			wisp.Extension{ID: wisp.ExtListen},
		)
		info.Info.Extensions = append(info.Info.Extensions, s.udpExtensions()...)
		info.Info.Extensions = append(info.Info.Extensions, s.resumeExtensions()...)
		if offer, required := cfg.wantsCredential(s.origin, s.hasOrigin); offer {
			req := byte(0)
			if required {
				req = 1
			}
			info.Info.Extensions = append(info.Info.Extensions, wisp.Extension{ID: wisp.ExtPassword, Payload: []byte{req}})
		}
		if err := s.write(wisp.Append(nil, &info)); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.srv.opts.HandshakeTimeout)
		typ, b, err := s.conn.Read(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("waiting for client INFO: %w", err)
		}
		p, err := wisp.Parse(b)
		if err != nil || typ != websocket.MessageBinary || p.Type != wisp.TypeInfo {
			s.conn.Close(websocket.StatusProtocolError, "expected INFO")
			return fmt.Errorf("expected client INFO: %v", err)
		}
		_, s.sockshim = p.Info.Find(wisp.ExtSockshim)
		_, s.halfClose = p.Info.Find(wisp.ExtHalfClose)
		_, s.canListen = p.Info.Find(wisp.ExtListen)
		if e, ok := p.Info.Find(wisp.ExtFlowControl); ok {
			fc, err := wisp.ParseFlowControlInfo(e.Payload)
			if err != nil {
				s.refuse(wisp.ReasonIncompatible)
				return err
			}
			s.window = fc.Window
		}
		if e, ok := p.Info.Find(wisp.ExtPassword); ok {
			parsed, err := wisp.ParsePassword(e.Payload)
			if err != nil {
				s.refuse(wisp.ReasonAuthBad)
				return err
			}
			pw = &parsed
		}
		if s.resumeReq, err = s.resumeRequest(p.Info); err != nil {
			s.refuse(wisp.ReasonIncompatible)
			return err
		}
	}
	app, reason := cfg.authenticate(s.origin, s.hasOrigin, pw)
	if reason != 0 {
		s.refuse(reason)
		user := ""
		if pw != nil {
			user = pw.User
		}
		return fmt.Errorf("authentication: %v (app %q)", reason, user)
	}
	s.app = app
	if s.resumeReq != nil && s.resumeReq.Resume {
		return s.resumeOnto(s.resumeReq)
	}
	sl, release, ok := s.srv.admitSession(app)
	if !ok {
		s.refuse(wisp.ReasonThrottled)
		return fmt.Errorf("app %q has too many sessions", app.ID)
	}
	s.limits, s.releaseSession = sl, release
	if err := s.write(wisp.AppendContinue(nil, 0, s.srv.opts.StreamCredit)); err != nil {
		return err
	}
	if s.resumeReq != nil {
		if err := s.startResume(); err != nil {
			return err
		}
		s.ready.Store(true)
	}
	return nil
}

func (s *session) refuse(r wisp.CloseReason) {
	s.write(wisp.AppendClose(nil, 0, r))
	s.conn.Close(websocket.StatusPolicyViolation, r.String())
}

func (s *session) readLoop() error {
	// One reused buffer for every message (coder/websocket's Read grows a
	// fresh one per message); payloads that outlive it are copied once.
	rd := wsmsg.NewReader(s.conn)
	for {
		var typ websocket.MessageType
		var b []byte
		var err error
		if s.rc != nil {
			typ = websocket.MessageBinary
			b, _, err = s.rc.Read(s.ctx)
		} else {
			typ, b, err = rd.Read(s.ctx)
		}
		if err != nil {
			return err
		}
		s.lastActive.Store(time.Now().UnixNano())
		if typ != websocket.MessageBinary {
			s.closeWS(websocket.StatusUnsupportedData, "wisp uses binary messages")
			return errors.New("text message")
		}
		p, err := wisp.Parse(b)
		if err != nil {
			if len(b) < wisp.HeaderLen {
				s.closeWS(websocket.StatusProtocolError, "short packet")
				return err
			}
			s.log.Info("relay: malformed packet", "stream", p.StreamID, "err", err)
			s.closeStream(p.StreamID, wisp.ReasonInvalid)
			continue
		}
		if len(p.Data) > 0 && p.Type != wisp.TypeData {
			p.Data = bytes.Clone(p.Data) // it may outlive the next read
		}
		s.route(&p) // DATA payloads are valid only until route returns
	}
}

func (s *session) route(p *wisp.Packet) {
	if s.routeUDP(p) {
		return
	}
	switch p.Type {
	case wisp.TypeConnect:
		s.connect(p)
	case wisp.TypeData:
		if st := s.stream(p.StreamID); st != nil {
			st.fromClient(p.Data)
		}
	case wisp.TypeClose:
		s.mu.Lock()
		st := s.streams[p.StreamID]
		delete(s.streams, p.StreamID)
		l := s.listeners[p.StreamID]
		delete(s.listeners, p.StreamID)
		s.mu.Unlock()
		if st != nil {
			st.clientClosed(p.Reason)
		}
		if l != nil {
			l.close()
		}
	case wisp.TypeFin:
		if st := s.stream(p.StreamID); st != nil && s.halfClose {
			if wisp.ParseFin(p.Data) != nil {
				s.closeStream(p.StreamID, wisp.ReasonInvalid)
				return
			}
			st.clientFin()
		}
	case wisp.TypeGrant:
		if st := s.stream(p.StreamID); st != nil && s.window > 0 {
			n, err := wisp.ParseGrant(p.Data)
			if err != nil {
				s.closeStream(p.StreamID, wisp.ReasonInvalid)
				return
			}
			st.grant(n)
		}
	case wisp.TypeListen:
		if s.canListen {
			s.openListener(p)
		}
	default:
		// CONTINUE and INFO from a client carry nothing for the relay;
		// unknown extension packets are ignored, as the spec asks.
	}
}

func (s *session) connect(p *wisp.Packet) {
	if p.StreamID == 0 {
		s.write(wisp.AppendClose(nil, 0, wisp.ReasonInvalid))
		return
	}
	s.mu.Lock()
	if s.listeners[p.StreamID] != nil || p.StreamID&wisp.RelayStreamBit != 0 {
		s.mu.Unlock()
		s.write(wisp.AppendClose(nil, p.StreamID, wisp.ReasonInvalid))
		return
	}
	if old := s.streams[p.StreamID]; old != nil {
		delete(s.streams, p.StreamID)
		s.mu.Unlock()
		s.log.Info("relay: CONNECT for an open stream id", "stream", p.StreamID)
		old.abort(wisp.ReasonInvalid)
		return
	}
	if p.StreamType != wisp.StreamTCP {
		s.mu.Unlock()
		s.write(wisp.AppendClose(nil, p.StreamID, wisp.ReasonInvalid))
		return
	}
	if s.closing {
		s.mu.Unlock()
		return
	}
	release, ok := s.srv.admitStream(s.limits)
	if !ok {
		s.mu.Unlock()
		s.refuseThrottled(p.StreamID)
		return
	}
	st := newTCPStream(s, p.StreamID)
	s.streams[p.StreamID] = st
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer release()
		st.run(p.Host, p.Port)
	}()
}

func (s *session) stream(id uint32) *tcpStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[id]
}

// closeStream closes a stream (if open) and tells the client.
func (s *session) closeStream(id uint32, r wisp.CloseReason) {
	s.mu.Lock()
	st := s.streams[id]
	delete(s.streams, id)
	s.mu.Unlock()
	if st != nil {
		st.abort(r)
		return
	}
	if id != 0 {
		s.write(wisp.AppendClose(nil, id, r))
	}
}

// forget drops a stream from the table if it is still the one registered.
func (s *session) forget(st *tcpStream) {
	s.mu.Lock()
	if s.streams[st.id] == st {
		delete(s.streams, st.id)
	}
	s.mu.Unlock()
}

// detach empties the stream and listener tables and closes the listeners,
// which frees their ports before it returns.
func (s *session) detach() map[uint32]*tcpStream {
	s.mu.Lock()
	s.closing = true
	streams, listeners := s.streams, s.listeners
	s.streams, s.listeners = map[uint32]*tcpStream{}, map[uint32]*listener{}
	s.mu.Unlock()
	for _, l := range listeners {
		l.close()
	}
	return streams
}

func (s *session) closeAll() {
	for _, st := range s.detach() {
		st.abort(0)
	}
	s.closeUDP(0)
}

// shutdown closes every stream with CLOSE, then the WebSocket.
func (s *session) shutdown() {
	for _, st := range s.detach() {
		st.abort(wisp.ReasonUnknown)
	}
	s.closeUDP(wisp.ReasonUnknown)
	go s.closeWS(websocket.StatusGoingAway, "relay shutting down")
}
