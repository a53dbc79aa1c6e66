package relay

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/wisp"
)

type shutdownState struct {
	writeDeadline time.Time
}

// Shutdown stops accepting sessions and closes the open ones, all at once:
// dials in progress are cancelled, every stream gets CLOSE (ReasonShutdown;
// plain Wisp clients ReasonNetworkError), then the WebSocket closes with
// 1001. Writes to clients get a deadline halfway to ctx's (2.5 s without
// one), so a client that does not read delays nobody. When ctx ends, the
// sessions still open are closed without ceremony; Shutdown returns nil once
// every session is gone, or ctx.Err() if some are still winding down a
// second after that.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.broker.close() // held sockets, once the sessions are gone (broker.go)
	now := time.Now()
	wd := now.Add(2500 * time.Millisecond)
	if d, ok := ctx.Deadline(); ok {
		wd = now.Add(d.Sub(now) / 2)
	}
	s.mu.Lock()
	s.closing = true
	if s.shutdown == nil {
		s.shutdown = &shutdownState{writeDeadline: wd}
	}
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		go sess.shutdown(wd)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	n := len(s.sessions)
	for sess := range s.sessions {
		sess.kill()
	}
	s.mu.Unlock()
	s.log.Warn("relay: shutdown grace period over; closing the remaining sessions", "sessions", n)
	select {
	case <-done:
		return nil
	case <-time.After(time.Second):
		return ctx.Err()
	}
}

// shutdown ends the session for Shutdown: dials stop, each stream gets
// CLOSE, the WebSocket closes with 1001; no write waits past deadline.
func (s *session) shutdown(deadline time.Time) {
	if _, out := s.currentWS(); out != nil {
		out.SetWriteDeadline(deadline)
	}
	// Members exist only after the handshake (register's lock orders
	// them after it), so s.ext is settled when there are any.
	for _, m := range s.detach() {
		r := wisp.ReasonNetworkError
		if s.ext.Sockshim {
			r = wisp.ReasonShutdown
		}
		m.close(r)
	}
	s.cancelDials() // after the CLOSEs: a cancelled dial must not pick the reason
	s.closeRTC()
	if s.rc != nil {
		s.closeWS(wisp.ReasonShutdown, websocket.StatusGoingAway, "relay shutting down") // the client must not try to resume
		return
	}
	s.conn.Close(websocket.StatusGoingAway, "relay shutting down")
	s.conn.CloseNow()
}

// kill closes the session's socket and cancels all its work.
func (s *session) kill() {
	if s.rc != nil {
		s.rc.Close(errors.New("relay: session killed"))
	}
	s.conn.CloseNow()
	s.cancel()
}
