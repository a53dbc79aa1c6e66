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
)

type session struct {
	srv       *Server
	conn      MessageConn
	out       *cork.Conn // under conn's writer; nil when the server could not hijack
	origin    string
	hasOrigin bool
	password  *wisp.Password // the client's credential, nil if none: re-checked at each reload
	log       *slog.Logger
	v2        bool
	ext       wisp.Negotiated // the extensions both sides advertised

	// appState is the session's app as the current config has it: set by
	// the handshake, replaced by each reload (reload.go).
	appState   atomic.Pointer[appState]
	reloadMu   sync.Mutex
	seenConfig *Config // the config appState was decided under; nil until the handshake is done

	ctx         context.Context // ends when the session does
	cancel      context.CancelFunc
	dials       context.Context // under ctx; Shutdown ends it first: dials and lookups in progress stop
	cancelDials context.CancelFunc

	mu      sync.Mutex
	table   idTable  // every stream and listener (table.go)
	closing bool     // closeAll or shutdown ran: register nothing new
	rtc     *rtcPeer // the WebRTC peer (webrtc.go)
	wg      sync.WaitGroup

	limits         *sessionLimits // set by the handshake (limits.go)
	releaseSession func()         // gives the app's session slot back
	lastActive     atomic.Int64   // unix nanoseconds of the last message read

	// Session resume (resume.go): nil unless negotiated. rc carries every
	// packet once the handshake is done; ready says it is set.
	rc         *resume.Conn
	res        *sessionResume
	resumeReq  *wisp.ResumeClientInfo
	ready      atomic.Bool
	handedOver bool // the WebSocket now carries an older session (a resume)
}

func newSession(srv *Server, conn MessageConn, origin string, hasOrigin bool, remote string) *session {
	s := &session{
		srv: srv, conn: conn, origin: origin, hasOrigin: hasOrigin,
		v2:  conn.Subprotocol() == "wisp-v2",
		log: srv.log.With("remote", remote, "origin", origin),
	}
	s.appState.Store(&appState{})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.dials, s.cancelDials = context.WithCancel(s.ctx)
	return s
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

func (s *session) run() {
	defer s.cancel()
	// Every way out, a failed handshake's included, releases the socket:
	// coder/websocket never closes a hijacked connection by itself.
	defer func() {
		if !s.handedOver {
			s.conn.CloseNow()
		}
	}()
	cfg := s.srv.Config()
	if cause, err := s.handshake(cfg); err != nil {
		if errors.Is(err, errHandedOver) {
			s.handedOver = true
			return // the WebSocket now carries the session it resumed
		}
		s.srv.metrics.handshakeFailed(cause)
		s.log.Info("relay: session refused", "cause", cause.String(), "err", err)
		return
	}
	defer s.releaseSession()
	s.srv.metrics.sessionsTotal.Add(1)
	s.srv.metrics.sessionsOpen.Add(1)
	defer s.srv.metrics.sessionsOpen.Add(-1)
	began := time.Now()
	defer func() { s.srv.metrics.sessionSeconds.Observe(time.Since(began).Seconds()) }()
	s.lastActive.Store(time.Now().UnixNano())
	s.log = s.log.With("app", s.app().id())
	s.log.Debug("relay: session open", "v2", s.v2)
	s.reloadMu.Lock()
	s.seenConfig = cfg
	s.reloadMu.Unlock()
	if now := s.srv.Config(); now != cfg {
		s.reload(now) // a reload came during the handshake
	}
	if s.rc == nil {
		go s.keepalive(s.srv.opts.PeerTimeout, s.srv.opts.IdleTimeout)
	} else {
		go s.resumeIdle(s.srv.opts.IdleTimeout) // the ACK heartbeat finds dead links
	}
	err := s.readLoop()
	s.endResume()
	s.closeAll()
	s.wg.Wait()
	var ce websocket.CloseError
	if !errors.As(err, &ce) && !errors.Is(err, context.Canceled) { // readLoop always ends with an error
		s.log.Info("relay: session ended", "err", err)
	}
}

// handshakeCause says why a handshake failed, for logs and metrics.
type handshakeCause uint8

const (
	causeTimeout   handshakeCause = iota // the client's INFO did not come in time
	causeHangup                          // the client left or its socket failed
	causeProtocol                        // not a Wisp INFO, or a malformed record
	causeAuth                            // credential or origin refused
	causeThrottled                       // the app has too many sessions
	causeResume                          // a resume refused (resume.go)
	numCauses
)

var causeNames = [numCauses]string{"timeout", "hangup", "protocol", "auth", "throttled", "resume"}

func (c handshakeCause) String() string { return causeNames[c] }

// handshake runs the Wisp v2 INFO exchange (v1: none) and admits the
// session; everything it writes and reads is bounded by HandshakeTimeout.
func (s *session) handshake(cfg *Config) (handshakeCause, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.opts.HandshakeTimeout)
	defer cancel()
	ioCause := func(err error) handshakeCause {
		if ctx.Err() != nil {
			return causeTimeout
		}
		return causeHangup
	}
	if s.v2 {
		offer, required := cfg.wantsCredential(s.origin, s.hasOrigin)
		server := wisp.ServerInfo(wisp.ServerOffer{WebRTC: s.srv.rtcEnabled(), Password: offer, PasswordRequired: required, Profile: s.srv.edgeProfile()})
		server.Extensions = append(server.Extensions, s.resumeExtensions()...)
		if err := s.writeCtx(ctx, wisp.Append(nil, &wisp.Packet{Type: wisp.TypeInfo, Info: server})); err != nil {
			return ioCause(err), fmt.Errorf("sending INFO: %w", err)
		}
		typ, b, err := s.conn.Read(ctx)
		if err != nil {
			return ioCause(err), fmt.Errorf("waiting for client INFO: %w", err)
		}
		p, err := wisp.Parse(b)
		if err != nil || typ != websocket.MessageBinary || p.Type != wisp.TypeInfo {
			s.conn.Close(websocket.StatusProtocolError, "expected INFO")
			return causeProtocol, fmt.Errorf("expected client INFO: %v", err)
		}
		s.ext, err = wisp.Negotiate(server, p.Info)
		if err != nil {
			var ne *wisp.NegotiationError
			r := wisp.ReasonIncompatible
			if errors.As(err, &ne) && ne.Ext == wisp.ExtPassword {
				r = wisp.ReasonAuthBad
			}
			s.refuse(ctx, r)
			return causeProtocol, err
		}
		s.password = s.ext.Password
		// A client's resume record counts only when this relay offered
		// resume (never the edge, never with resume disabled).
		if _, offered := server.Find(wisp.ExtResume); offered {
			if s.resumeReq, err = s.resumeRequest(p.Info); err != nil {
				s.refuse(ctx, wisp.ReasonIncompatible)
				return causeProtocol, err
			}
		}
	}
	app, reason := cfg.authenticate(s.origin, s.hasOrigin, s.password)
	if reason != 0 {
		s.refuse(ctx, reason)
		user := ""
		if s.password != nil {
			user = s.password.User
		}
		return causeAuth, fmt.Errorf("authentication: %v (app %q)", reason, user)
	}
	if s.resumeReq != nil && s.resumeReq.Resume {
		return causeResume, s.resumeOnto(ctx, s.resumeReq, app)
	}
	sl, release, ok := s.srv.admitSession(app)
	if !ok {
		s.refuse(ctx, wisp.ReasonThrottled)
		return causeThrottled, fmt.Errorf("app %q has too many sessions", app.ID)
	}
	s.appState.Store(newAppState(app))
	if e := s.srv.opts.Edge; e != nil && e.MaxStreamsPerSession > 0 {
		sl.limits.MaxStreamsPerSession = min(sl.limits.MaxStreamsPerSession, e.MaxStreamsPerSession)
	}
	s.limits, s.releaseSession = sl, release
	if err := s.writeCtx(ctx, wisp.AppendContinue(nil, 0, s.srv.opts.StreamCredit)); err != nil {
		release()
		return ioCause(err), err
	}
	if s.resumeReq != nil {
		if err := s.startResume(ctx); err != nil {
			release()
			return ioCause(err), err
		}
	}
	return 0, nil
}

// writeCtx is write bounded by ctx (the handshake's deadline).
func (s *session) writeCtx(ctx context.Context, b []byte) error {
	return s.conn.Write(ctx, websocket.MessageBinary, b)
}

// refuse tells the client why its session ends (CLOSE on stream 0) and
// closes the WebSocket, bounded by ctx.
func (s *session) refuse(ctx context.Context, r wisp.CloseReason) {
	if s.writeCtx(ctx, wisp.AppendClose(nil, 0, r)) == nil {
		s.conn.Close(websocket.StatusPolicyViolation, r.String())
	}
}

func (s *session) readLoop() error {
	// One reused buffer for every message (coder/websocket's Read grows a
	// fresh one per message); payloads that outlive it are copied once.
	rd := messageReader(s.conn)
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
			s.closeWS(0, websocket.StatusUnsupportedData, "wisp uses binary messages")
			return errors.New("text message")
		}
		p, err := wisp.Parse(b)
		if err != nil {
			if len(b) < wisp.HeaderLen {
				s.closeWS(0, websocket.StatusProtocolError, "short packet")
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

// route hands one client packet to what its stream id names (one table
// look-up), or opens what it asks for.
func (s *session) route(p *wisp.Packet) {
	switch p.Type {
	case wisp.TypeConnect:
		s.connect(p, wisp.TCPOptions{})
		return
	case wisp.TypeConnectOptions:
		s.connectOptions(p) // tcpcontrol.go
		return
	case wisp.TypeStatsRequest:
		s.statsRequest(p) // tcpcontrol.go
		return
	case wisp.TypeListenOptions:
		s.listenOptions(p) // tcpcontrol.go
		return
	case wisp.TypeBind:
		if s.srv.opts.Edge != nil {
			s.write(wisp.AppendClose(nil, p.StreamID, wisp.ReasonInvalid)) // not offered (msgconn.go)
			return
		}
		s.bindUDP(p)
		return
	case wisp.TypeListen:
		if s.ext.Listen {
			s.openListener(p)
		}
		return
	case wisp.TypeTransfer, wisp.TypeUnread, wisp.TypeList, wisp.TypeReclaim, wisp.TypePushSubscribe:
		if s.ext.Broker && s.srv.opts.Edge == nil {
			s.brokerPacket(p) // broker.go
		}
		return
	case wisp.TypePing:
		if nonce, err := wisp.ParsePing(p.Data); err == nil && s.ext.Liveness && p.StreamID == 0 {
			s.write(wisp.AppendPong(nil, nonce))
		}
		return
	case wisp.TypeSignal:
		if p.StreamID == 0 {
			s.signal(p.Data)
		}
		return
	case wisp.TypeClose:
		if p.StreamID == 0 && s.rc != nil {
			s.rc.Close(errClientEnded) // resume.go: no resume will follow
			return
		}
		s.mu.Lock()
		m := s.table.remove(p.StreamID)
		s.mu.Unlock()
		switch {
		case m.tcp != nil:
			m.tcp.clientClosed(p.Reason)
		case m.udp != nil:
			m.udp.close(0)
		case m.ln != nil:
			m.ln.close()
			s.write(wisp.AppendClose(nil, p.StreamID, wisp.ReasonVoluntary)) // ListenFlagCloseAck
		}
		return
	}
	m := s.member(p.StreamID)
	if m.udp != nil {
		s.routeUDP(m.udp, p)
		return
	}
	st := m.tcp
	if st == nil {
		return // late packets of a closed stream; unknown types are ignored, as the spec asks
	}
	switch p.Type {
	case wisp.TypeData:
		st.fromClient(p.Data)
	case wisp.TypeFin:
		if s.ext.HalfClose {
			if wisp.ParseFin(p.Data) != nil {
				s.closeStream(p.StreamID, wisp.ReasonInvalid)
				return
			}
			st.clientFin()
		}
	case wisp.TypeGrant:
		if s.ext.Window > 0 {
			n, err := wisp.ParseGrant(p.Data)
			if err != nil {
				s.closeStream(p.StreamID, wisp.ReasonInvalid)
				return
			}
			st.grant(n)
		}
	default:
		// CONTINUE and INFO from a client carry nothing for the relay.
	}
}

// connect opens what CONNECT (or CONNECT_OPTIONS, with its options) asks for.
func (s *session) connect(p *wisp.Packet, o wisp.TCPOptions) {
	if p.StreamID == 0 {
		s.write(wisp.AppendClose(nil, 0, wisp.ReasonInvalid))
		return
	}
	relayTLS := p.StreamType == wisp.StreamTLS && s.ext.RelayTLS // relaytls.go
	switch {
	case p.StreamType == wisp.StreamTCP, relayTLS:
	case p.StreamType == wisp.StreamUDP && s.srv.opts.Edge == nil:
		s.connectUDP(p)
		return
	default:
		if old := s.member(p.StreamID); !old.empty() {
			s.unregister(p.StreamID, old)
			old.close(wisp.ReasonInvalid)
			return
		}
		s.write(wisp.AppendClose(nil, p.StreamID, wisp.ReasonInvalid))
		return
	}
	st := newTCPStream(s, p.StreamID)
	st.relayTLS = relayTLS
	st.opts = o
	release, ok := s.register(p.StreamID, member{tcp: st})
	if !ok {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer release()
		st.run(p.Host, p.Port)
	}()
}

// closeStream closes what id names (if anything) and tells the client.
func (s *session) closeStream(id uint32, r wisp.CloseReason) {
	s.mu.Lock()
	m := s.table.remove(id)
	s.mu.Unlock()
	if !m.empty() {
		m.close(r)
		return
	}
	if id != 0 {
		s.write(wisp.AppendClose(nil, id, r))
	}
}

// forget drops a TCP stream from the table if it is still the one registered.
func (s *session) forget(st *tcpStream) { s.unregister(st.id, member{tcp: st}) }

// detach marks the session closing, empties the table and closes the
// listeners, which frees their ports before it returns. It returns the
// streams, for the caller to close.
func (s *session) detach() []member {
	s.mu.Lock()
	s.closing = true
	all := s.table.take()
	s.mu.Unlock()
	streams := make([]member, 0, len(all))
	for _, m := range all {
		if m.ln != nil {
			m.ln.close()
			continue
		}
		streams = append(streams, m)
	}
	return streams
}

func (s *session) closeAll() {
	for _, m := range s.detach() {
		m.close(0)
	}
	s.closeRTC()
}
