package relay

import (
	"context"
	"time"

	"github.com/coder/websocket"
)

// keepalive ends a session whose client is dead or idle. The relay pings the
// client (browsers cannot send WebSocket pings, but they answer them) every
// peerTimeout/2, the first one peerTimeout/2 after the handshake, and gives
// each ping peerTimeout/2 to be answered: a client that vanished without a
// FIN (a dropped network, a blackholed path) or stopped reading is noticed
// within peerTimeout. A session with no streams and no traffic for idle is
// closed with 1001.
func (s *session) keepalive(peerTimeout, idle time.Duration) {
	interval := peerTimeout / 2
	ping := time.NewTicker(interval)
	defer ping.Stop()
	idleCheck := time.NewTicker(min(idle, time.Second))
	defer idleCheck.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-idleCheck.C:
			if s.openStreams() == 0 && now.Sub(time.Unix(0, s.lastActive.Load())) >= idle {
				s.log.Info("relay: closing idle session", "idle", idle)
				s.conn.Close(websocket.StatusGoingAway, "idle")
				return
			}
		case <-ping.C:
			ctx, cancel := context.WithTimeout(s.ctx, interval)
			err := s.conn.Ping(ctx)
			timedOut := ctx.Err() == context.DeadlineExceeded
			cancel()
			if err != nil && s.ctx.Err() == nil {
				if timedOut {
					s.srv.metrics.deadPeers.Add(1)
					s.log.Info("relay: closing session: dead peer (no pong to a keepalive ping)", "cause", "dead_peer", "waited", interval, "peerTimeout", peerTimeout)
				} else {
					s.log.Info("relay: closing session: keepalive ping failed", "cause", "ping_failed", "err", err)
				}
				s.conn.CloseNow()
				return
			}
		}
	}
}

// openStreams counts the session's streams and listeners.
func (s *session) openStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.table.m)
}
