package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/cork"
	"github.com/sockshim/sockshim/internal/resume"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wsmsg"
)

// ResumeOptions configure session resume (extension 0x5E, docs/PROTOCOL.md
// "Session resume"). Only clients that ask for it get it; plain Wisp
// sessions keep nothing for replay.
type ResumeOptions struct {
	// Disabled turns resume off: the relay does not advertise it.
	Disabled bool
	// Window is how long a session whose WebSocket is gone is held for a
	// resume; default 60 s. Then its sockets are closed and all is freed.
	Window time.Duration
	// Buffer bounds each session's replay buffer (relay to client), in
	// bytes; default 2 MiB. A full buffer blocks the session's senders.
	Buffer int
	// Instance names this relay process behind a load balancer; clients
	// resume with ?resume=<Instance>, which the balancer routes on (see
	// deploy/nginx.conf). Default: 16 random hex digits per process.
	Instance string
	// AckInterval and DeadAfter tune the ACK heartbeat (default 2 s) and
	// when a silent WebSocket counts as lost (default Options.PeerTimeout).
	AckInterval, DeadAfter time.Duration
}

// serverResume is the relay's resume state: the live tokens and counters.
type serverResume struct {
	opts     ResumeOptions
	tokens   resume.Tokens[*session]
	resumes  atomic.Int64 // successful resumes
	refused  atomic.Int64 // resumes refused (any reason)
	replayed atomic.Int64 // bytes replayed to clients
	expired  atomic.Int64 // sessions whose window passed
	lost     atomic.Int64 // WebSockets lost under a resumable session
}

func (r *serverResume) init(o *ResumeOptions) {
	if o != nil {
		r.opts = *o
	}
	if r.opts.Window <= 0 {
		r.opts.Window = 60 * time.Second
	}
	if r.opts.Buffer <= 0 {
		r.opts.Buffer = resume.DefaultBuffer
	}
	if !wisp.ValidInstance(r.opts.Instance) {
		r.opts.Instance = "" // New has no error to return; a random id still works alone
	}
	if r.opts.Instance == "" {
		var b [8]byte
		rand.Read(b[:])
		r.opts.Instance = hex.EncodeToString(b[:])
	}
	r.tokens.TTL = 2 * r.opts.Window
}

// Instance is the relay's instance id (ResumeOptions.Instance).
func (s *Server) Instance() string { return s.res.opts.Instance }

// sessionResume is one session's resume state; nil when not negotiated.
type sessionResume struct {
	mu      sync.Mutex
	token   resume.Token
	cur     atomic.Pointer[resume.Token] // token, for OnHeard (which must not wait for mu)
	timer   *time.Timer                  // runs while detached
	epoch   int                          // bumped on every detach and resume
	expired bool
}

// errHandedOver: the WebSocket now carries an older session.
var errHandedOver = errors.New("resumed an existing session")

func (s *session) resumeExtensions() []wisp.Extension {
	o := &s.srv.res.opts
	if o.Disabled || !s.v2 || s.srv.opts.Edge != nil {
		// The edge runs each request in a fresh instance: no session
		// outlives its WebSocket there.
		return nil
	}
	b, err := wisp.AppendResumeServerInfo(nil, wisp.ResumeServerInfo{
		Version: 1, Window: uint32(o.Window / time.Second), Instance: o.Instance})
	if err != nil {
		s.log.Error("relay: resume disabled", "err", err)
		return nil
	}
	return []wisp.Extension{{ID: wisp.ExtResume, Payload: b}}
}

// resumeRequest returns the client's resume record, if it sent one and
// resume is on.
func (s *session) resumeRequest(info wisp.Info) (*wisp.ResumeClientInfo, error) {
	if s.srv.res.opts.Disabled {
		return nil, nil
	}
	e, ok := info.Find(wisp.ExtResume)
	if !ok {
		return nil, nil
	}
	ci, err := wisp.ParseResumeClientInfo(e.Payload)
	if err != nil {
		return nil, err
	}
	return &ci, nil
}

func (s *session) binding(appID string) resume.Binding {
	return resume.Binding{App: appID, Origin: s.origin, NoOrig: !s.hasOrigin}
}

// startResume makes a fresh session resumable: its first token, then the
// layer under it. Called after CONTINUE(0).
func (s *session) startResume(ctx context.Context) error {
	r := &s.srv.res
	s.res = &sessionResume{}
	s.res.token = r.tokens.Issue(s, s.binding(s.app().id()))
	if err := s.writeCtx(ctx, wisp.AppendResumeToken(nil, s.res.token, 0)); err != nil {
		r.tokens.Retire(s.res.token, nil)
		return err
	}
	link := s.link()
	dead := r.opts.DeadAfter
	if dead == 0 {
		dead = s.srv.opts.PeerTimeout // as for sessions without resume
	}
	first := s.res.token
	s.res.cur.Store(&first)
	s.rc = resume.New(link, &resume.Options{
		Buffer: r.opts.Buffer, AckInterval: r.opts.AckInterval, DeadAfter: dead,
		OnLinkDown: func(err error) { go s.linkLost(err) },
		Recycle:    func(b []byte) { bufPool.Put((*buffer)(b[:bufSize])) }, // writeOwned's buffers
		// The client read RESUME_TOKEN: the token it replaced is used
		// for good (until then the client may only have the old one).
		OnHeard: func() { r.tokens.Confirm(*s.res.cur.Load()) },
	})
	s.rcShared.Store(s.rc)
	s.ready.Store(true)
	return nil
}

// refuseResume closes a resume attempt with a reason on stream 0 and a
// WebSocket close text that says it in words.
func (s *session) refuseResume(ctx context.Context, r wisp.CloseReason, why string) error {
	s.srv.res.refused.Add(1)
	s.refuse(ctx, r)
	return fmt.Errorf("resume refused: %v: %s", r, why)
}

// resumeOnto hands this WebSocket to the session the token names.
func (s *session) resumeOnto(ctx context.Context, req *wisp.ResumeClientInfo, app *AppConfig) error {
	r := &s.srv.res
	if req.Instance != r.opts.Instance {
		return s.refuseResume(ctx, wisp.ReasonResumeWrongRelay,
			fmt.Sprintf("session held by relay %q, this is %q", req.Instance, r.opts.Instance))
	}
	old, tok, err := r.tokens.Redeem(resume.Token(req.Token), s.binding(newAppState(app).id()))
	if err != nil {
		return s.refuseResume(ctx, resume.Reason(err), err.Error())
	}
	old.res.mu.Lock()
	defer old.res.mu.Unlock()
	if old.res.expired || old.rc.Err() != nil {
		r.tokens.Retire(tok, nil)
		return s.refuseResume(ctx, wisp.ReasonResumeExpired, "session ended")
	}
	old.res.token = tok
	old.res.cur.Store(&tok)
	old.res.epoch++
	if old.res.timer != nil {
		old.res.timer.Stop()
		old.res.timer = nil
	}
	if err := old.rc.CheckPosition(req.Received); err != nil {
		// Not the same session as ours: nothing can be replayed exactly.
		old.log.Info("relay: resume with an impossible position; ending the session", "err", err)
		old.res.expired = true
		r.tokens.Retire(tok, nil)
		old.rc.Close(err)
		return s.refuseResume(ctx, wisp.ReasonResumePosition, err.Error())
	}
	received := old.rc.Detach()
	if err := s.writeCtx(ctx, wisp.AppendContinue(nil, 0, s.srv.opts.StreamCredit)); err != nil {
		return err
	}
	if err := s.writeCtx(ctx, wisp.AppendResumeToken(nil, tok, received)); err != nil {
		return err
	}
	before := old.rc.Stats()
	err = old.rc.Attach(s.link(), req.Received)
	after := old.rc.Stats()
	// A resume whose replay the next loss cut short is a resume all the
	// same, as the client counts it: the next one replays the rest.
	r.resumes.Add(after.Resumes - before.Resumes)
	r.replayed.Add(after.ReplayedBytes - before.ReplayedBytes)
	if err != nil {
		if errors.Is(err, resume.ErrPosition) {
			old.log.Info("relay: resume with an impossible position; ending the session", "err", err)
			old.rc.Close(err)
		}
		return fmt.Errorf("resume: %w", err)
	}
	old.log.Info("relay: session resumed", "client_received", req.Received, "relay_received", received)
	return errHandedOver
}

// linkLost starts the resume window of a session whose WebSocket is gone.
func (s *session) linkLost(err error) {
	r := &s.srv.res
	if websocket.CloseStatus(err) != -1 {
		// A close frame: the client ended the session (a lost link
		// is dropped without one), so nothing is held for it.
		s.log.Debug("relay: client closed a resumable session", "err", err)
		s.rc.Close(err)
		return
	}
	r.lost.Add(1)
	s.res.mu.Lock()
	defer s.res.mu.Unlock()
	if s.rc.Connected() || s.res.expired {
		return // resumed already
	}
	s.res.epoch++
	epoch := s.res.epoch
	if s.res.timer != nil {
		s.res.timer.Stop()
	}
	s.log.Info("relay: session detached; holding it for a resume", "err", err, "window", r.opts.Window)
	s.res.timer = time.AfterFunc(r.opts.Window, func() { s.expire(epoch) })
}

func (s *session) expire(epoch int) {
	s.res.mu.Lock()
	if s.res.epoch != epoch || s.rc.Connected() {
		s.res.mu.Unlock()
		return
	}
	s.res.expired = true
	s.srv.res.tokens.Retire(s.res.token, resume.ErrExpired)
	s.res.mu.Unlock()
	s.srv.res.expired.Add(1)
	s.log.Info("relay: resume window passed; releasing the session", "window", s.srv.res.opts.Window)
	s.rc.Close(resume.ErrExpired)
}

// endResume retires the session's token when it ends for good.
func (s *session) endResume() {
	if s.res == nil {
		return
	}
	s.res.mu.Lock()
	s.res.expired = true
	if s.res.timer != nil {
		s.res.timer.Stop()
	}
	s.srv.res.tokens.Retire(s.res.token, nil)
	s.res.mu.Unlock()
	s.rc.Close(nil)
}

// link is the resume layer's view of the session's WebSocket.
func (s *session) link() *resume.WSLink {
	if ws, ok := any(s.conn).(*wsmsg.Conn); ok { // natively coder/websocket's Conn
		return resume.NewWSLink(ws, s.out, nil)
	}
	return resume.NewReadConnLink(s.conn, s.out)
}

// currentWS is the WebSocket the session runs on now (nil while detached).
// It may run during the handshake.
func (s *session) currentWS() (resume.MessageConn, *cork.Conn) {
	rc := s.rcShared.Load()
	if rc == nil {
		return s.conn, s.out
	}
	if l, ok := rc.Link().(*resume.WSLink); ok {
		return l.Conn, l.Out
	}
	return nil, nil
}

// closeWS ends the session's current WebSocket with a close frame. A
// resumable session first says why in the session itself, when r is not 0
// (CLOSE on stream 0, numbered like every packet): a close frame alone can
// lose the race with a failed write, and the client would try to resume.
func (s *session) closeWS(r wisp.CloseReason, code websocket.StatusCode, reason string) {
	if s.rc == nil {
		s.conn.Close(code, reason)
		return
	}
	if r != 0 {
		ctx, cancel := context.WithTimeout(s.ctx, time.Second)
		s.rc.Write(ctx, wisp.AppendClose(nil, 0, r), false)
		cancel()
	}
	if l, ok := s.rc.Link().(*resume.WSLink); ok {
		l.CloseHandshake(code, reason)
	}
	s.rc.Close(errors.New(reason))
}

// errClientEnded: the client closed its resumable session (CLOSE on
// stream 0).
var errClientEnded = errors.New("relay: the client ended the session")

// resumeIdle is keepalive for resumable sessions: the layer's ACKs are the
// heartbeat, so only the idle rule is left.
func (s *session) resumeIdle(idle time.Duration) {
	t := time.NewTicker(min(idle, time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.rc.Done():
			return
		case now := <-t.C:
			if s.openStreams() == 0 && now.Sub(time.Unix(0, s.lastActive.Load())) >= idle {
				s.log.Info("relay: closing idle session", "idle", idle)
				s.closeWS(0, websocket.StatusGoingAway, "idle")
				return
			}
		}
	}
}

// ResumeStats are the relay's resume counters.
type ResumeStats struct {
	Resumes, Refused, ReplayedBytes, Expired, LinksLost int64
	Detached                                            int // sessions held without a WebSocket now
	MaxBufferedHigh                                     int // the most any live session's replay buffer held
}

// ResumeStats returns a snapshot.
func (s *Server) ResumeStats() ResumeStats {
	r := &s.res
	st := ResumeStats{Resumes: r.resumes.Load(), Refused: r.refused.Load(), ReplayedBytes: r.replayed.Load(),
		Expired: r.expired.Load(), LinksLost: r.lost.Load()}
	s.mu.Lock()
	for sess := range s.sessions {
		if rc := sess.resumeConn(); rc != nil {
			if !rc.Connected() {
				st.Detached++
			}
			st.MaxBufferedHigh = max(st.MaxBufferedHigh, rc.Stats().BufferedHigh)
		}
	}
	s.mu.Unlock()
	return st
}

// resumeConn is the session's layer once the handshake set it.
func (s *session) resumeConn() *resume.Conn {
	if !s.ready.Load() {
		return nil
	}
	return s.rc
}

// writeOwned sends the DATA packet in b[:n], a buffer from bufPool, on a
// resumable session: the replay buffer keeps b itself, no copy, and puts it
// back in bufPool once the client acknowledged it (Options.Recycle). b is
// not the caller's any more.
func (s *session) writeOwned(b *buffer, n int) error {
	frames := [1][]byte{b[:n]}
	taken, err := s.rc.WriteOwnedUntil(s.ctx, nil, frames[:], 1, nil)
	if taken == 0 {
		bufPool.Put(b)
	}
	return err
}

// writeDatagram sends a UDP datagram: on a resumable session it is never
// kept for replay (a gap loses it, as UDP may).
func (s *session) writeDatagram(b []byte) error {
	if s.rc != nil {
		return s.rc.Write(s.ctx, b, true)
	}
	return s.write(b)
}

// registerResumeMetrics adds the resume counters to the registry.
func (s *Server) registerResumeMetrics(counter func(string, string, *atomic.Int64), gauge func(string, string, func() int64)) {
	r := &s.res
	counter("sockshim_resumes_total", "Sessions resumed on a new WebSocket.", &r.resumes)
	counter("sockshim_resumes_refused_total", "Resumes refused: unknown, used or expired token, wrong relay, position or credential.", &r.refused)
	counter("sockshim_resume_replayed_bytes_total", "Bytes replayed to clients after resumes.", &r.replayed)
	counter("sockshim_resume_windows_expired_total", "Detached sessions released when their resume window passed.", &r.expired)
	counter("sockshim_resume_links_lost_total", "WebSockets lost under resumable sessions.", &r.lost)
	gauge("sockshim_sessions_detached", "Sessions held without a WebSocket, waiting for a resume.", func() int64 { return int64(s.ResumeStats().Detached) })
	gauge("sockshim_resume_buffer_high_bytes", "The most any live session's replay buffer held.", func() int64 { return int64(s.ResumeStats().MaxBufferedHigh) })
}
