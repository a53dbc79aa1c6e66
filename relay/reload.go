package relay

import (
	"context"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/wisp"
)

// appState is a session's app as one config has it, computed once (at the
// handshake, and again at each reload) so that every check of the session
// uses the same view.
type appState struct {
	cfg    *AppConfig  // nil: no app, no network
	policy *policy.App // nil when cfg is
}

func newAppState(a *AppConfig) *appState {
	if a == nil {
		return &appState{}
	}
	return &appState{cfg: a, policy: a.policyApp()}
}

func (a *appState) id() string {
	if a.cfg == nil {
		return ""
	}
	return a.cfg.ID
}

// listen is the app's listen config; nil: it may not listen.
func (a *appState) listen() *ListenConfig {
	if a.cfg == nil {
		return nil
	}
	return a.cfg.Listen
}

// app is the session's app under the current config.
func (s *session) app() *appState { return s.appState.Load() }

// SetConfig replaces the app policy, for new sessions and open ones alike:
// every later stream, datagram destination, listener bind and accept, and
// ICE candidate of an open session is decided by c, with c's limits. A
// session whose app c no longer has, or whose origin or credential c no
// longer admits, is closed with CLOSE (authentication failed) on stream 0;
// a connected UDP stream whose peer c denies is closed (blocked). Streams
// already open stay open.
func (s *Server) SetConfig(c *Config) {
	s.cfg.Store(c)
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.reload(c)
	}
}

// reload re-decides the session under c. Sessions still in their handshake
// re-check once it is done (see run).
func (s *session) reload(c *Config) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.seenConfig == c || s.seenConfig == nil {
		return // already decided under c, or still in the handshake
	}
	s.seenConfig = c
	old := s.app()
	app, reason := c.authenticate(s.origin, s.hasOrigin, s.password)
	if reason == 0 && ((app == nil) != (old.cfg == nil) || (app != nil && app.ID != old.cfg.ID)) {
		reason = wisp.ReasonAuthBad // another app now, or none
	}
	if reason != 0 {
		s.log.Info("relay: closing session after a config reload: its app no longer admits it", "reason", reason.String())
		s.srv.metrics.reloadClosed.Add(1)
		go s.revoke(reason)
		return
	}
	st := newAppState(app)
	s.appState.Store(st)
	s.mu.Lock()
	if s.limits != nil && app != nil {
		l := app.Limits
		if e := s.srv.opts.Edge; e != nil && e.MaxStreamsPerSession > 0 {
			l = l.withDefaults()
			l.MaxStreamsPerSession = min(l.MaxStreamsPerSession, e.MaxStreamsPerSession)
		}
		s.limits.update(l)
	}
	var udp []*udpStream
	for _, m := range s.table.m {
		if m.udp != nil {
			udp = append(udp, m.udp)
		}
	}
	s.mu.Unlock()
	for _, u := range udp {
		u.setApp(st.policy)
	}
}

// revoke ends the session with a CLOSE on stream 0 (bounded by the
// handshake timeout), then closes the WebSocket; run closes the streams.
func (s *session) revoke(r wisp.CloseReason) {
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.opts.HandshakeTimeout)
	defer cancel()
	if s.rc != nil {
		s.closeWS(r, websocket.StatusPolicyViolation, r.String()) // resume.go
		return
	}
	s.refuse(ctx, r)
	s.conn.CloseNow()
}
