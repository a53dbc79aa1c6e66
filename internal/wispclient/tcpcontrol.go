package wispclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sockshim/sockshim/internal/wisp"
)

// This file is the client's side of ExtTCPControl (socket options with the
// CONNECT, the relay's TCP_INFO on request) and the session's own round
// trip measurement on ExtLiveness' PING and PONG.

// ErrNoTCPControl is the error of TCP options or statistics asked of a
// relay that does not speak sockshim's extension 0x5C. It wraps
// errors.ErrUnsupported.
var ErrNoTCPControl = fmt.Errorf("wisp: the relay takes no TCP options and reports no TCP statistics (it lacks sockshim's extension 0x5C): %w", errors.ErrUnsupported)

// TCPControl reports whether the relay takes TCP options and answers
// Stream.Stats (both sides advertised ExtTCPControl).
func (s *Session) TCPControl() bool { return s.tcpControl }

// OpenTCP opens a TCP stream with socket options, which travel in
// CONNECT_OPTIONS; zero options send a plain CONNECT, so any Wisp server
// takes them. Options a relay without ExtTCPControl cannot apply fail with
// ErrNoTCPControl before anything is sent.
func (s *Session) OpenTCP(ctx context.Context, host string, port uint16, o wisp.TCPOptions) (*Stream, error) {
	if o.IsZero() {
		return s.Open(ctx, wisp.StreamTCP, host, port)
	}
	if !s.tcpControl {
		return nil, ErrNoTCPControl
	}
	return s.open(ctx, wisp.StreamTCP, func(id uint32) []byte {
		return wisp.AppendConnectOptions(nil, id, o, host, port)
	})
}

// Stats asks the relay for the stream's TCP_INFO (one round trip through
// the tunnel). A relay without ExtTCPControl: ErrNoTCPControl.
func (st *Stream) Stats(ctx context.Context) (wisp.TCPStats, error) {
	if !st.s.tcpControl {
		return wisp.TCPStats{}, ErrNoTCPControl
	}
	nonce := st.s.nonce.Add(1)
	ch := make(chan wisp.TCPStats, 1)
	st.mu.Lock()
	if err := st.rerr; err != nil {
		st.mu.Unlock()
		if err == io.EOF {
			err = errBrokenPipe
		}
		return wisp.TCPStats{}, st.opErr("stats", err)
	}
	if st.statsWait == nil {
		st.statsWait = map[uint32]chan wisp.TCPStats{}
	}
	st.statsWait[nonce] = ch
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		delete(st.statsWait, nonce)
		st.mu.Unlock()
	}()
	if err := st.s.enqueue(wisp.AppendStatsRequest(nil, st.id, nonce)); err != nil {
		return wisp.TCPStats{}, st.opErr("stats", err)
	}
	select {
	case r, ok := <-ch:
		if !ok { // the stream ended first
			st.mu.Lock()
			err := st.rerr
			st.mu.Unlock()
			if err == io.EOF || err == nil {
				err = errBrokenPipe
			}
			return wisp.TCPStats{}, st.opErr("stats", err)
		}
		return r, nil
	case <-st.closed.C:
		return wisp.TCPStats{}, st.opErr("stats", errClosedStream)
	case <-st.s.done.C:
		return wisp.TCPStats{}, st.opErr("stats", st.s.lost())
	case <-ctx.Done():
		return wisp.TCPStats{}, ctx.Err()
	}
}

var errClosedStream = errors.New("wisp: stream closed")

// gotStats hands a STATS packet to the Stats call waiting for it.
func (st *Stream) gotStats(b []byte) {
	r, err := wisp.ParseStats(b)
	if err != nil {
		return // malformed: the caller's context bounds its wait
	}
	st.mu.Lock()
	ch := st.statsWait[r.Nonce]
	delete(st.statsWait, r.Nonce)
	st.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

// endStats wakes every Stats call once the stream ended (st.mu held).
func (st *Stream) endStats() {
	for n, ch := range st.statsWait {
		close(ch)
		delete(st.statsWait, n)
	}
}

// RTTStats summarise the session's round trips to the relay: PING to PONG,
// as the client's clock measures them (the tunnel: WebSocket, TCP and the
// relay's read loop, both ways). Smoothed and Variation follow RFC 6298's
// SRTT and RTTVAR (gains 1/8 and 1/4).
type RTTStats struct {
	Samples             int
	Last, Min, Max      time.Duration
	Smoothed, Variation time.Duration
}

// pings are the session's PINGs awaiting a PONG, and what PONGs measured.
type pings struct {
	mu    sync.Mutex
	sent  map[uint32]pingWait
	stats RTTStats
}

type pingWait struct {
	at time.Time
	ch chan time.Duration // nil for the keep-alive's own PINGs
}

// maxPending bounds the PINGs kept waiting; a relay that never answers
// them ends the session by its PeerTimeout anyway.
const maxPending = 64

// sendPing sends a PING; ch, if not nil, gets its round trip.
func (s *Session) sendPing(ch chan time.Duration) (uint32, error) {
	nonce := s.nonce.Add(1)
	s.pings.mu.Lock()
	if s.pings.sent == nil {
		s.pings.sent = map[uint32]pingWait{}
	}
	if len(s.pings.sent) >= maxPending {
		for n, w := range s.pings.sent {
			if w.ch == nil {
				delete(s.pings.sent, n) // an old keep-alive PING
				break
			}
		}
	}
	s.pings.sent[nonce] = pingWait{at: time.Now(), ch: ch}
	s.pings.mu.Unlock()
	return nonce, s.enqueue(wisp.AppendPing(nil, nonce))
}

// pong records the round trip of the PING nonce answers.
func (s *Session) pong(nonce uint32) {
	now := time.Now()
	s.pings.mu.Lock()
	w, ok := s.pings.sent[nonce]
	delete(s.pings.sent, nonce)
	if ok {
		s.pings.stats.add(now.Sub(w.at))
	}
	s.pings.mu.Unlock()
	if ok && w.ch != nil {
		w.ch <- now.Sub(w.at)
	}
}

func (r *RTTStats) add(d time.Duration) {
	abs := func(d time.Duration) time.Duration { return max(d, -d) }
	if r.Samples == 0 {
		r.Min, r.Max, r.Smoothed, r.Variation = d, d, d, d/2
	} else {
		r.Min, r.Max = min(r.Min, d), max(r.Max, d)
		r.Variation = (3*r.Variation + abs(r.Smoothed-d)) / 4
		r.Smoothed = (7*r.Smoothed + d) / 8
	}
	r.Samples++
	r.Last = d
}

// Ping measures one round trip to the relay (PING to PONG). A relay
// without ExtLiveness: ErrNoLiveness.
func (s *Session) Ping(ctx context.Context) (time.Duration, error) {
	if !s.liveness {
		return 0, ErrNoLiveness
	}
	ch := make(chan time.Duration, 1)
	nonce, err := s.sendPing(ch)
	if err != nil {
		return 0, err
	}
	select {
	case d := <-ch:
		return d, nil
	case <-s.done.C:
		return 0, s.lost()
	case <-ctx.Done():
		s.pings.mu.Lock()
		delete(s.pings.sent, nonce)
		s.pings.mu.Unlock()
		return 0, ctx.Err()
	}
}

// ErrNoLiveness is Ping's error with a relay that does not answer PING
// (it lacks sockshim's extension 0x59). It wraps errors.ErrUnsupported.
var ErrNoLiveness = fmt.Errorf("wisp: the relay does not answer PING (it lacks sockshim's extension 0x59): %w", errors.ErrUnsupported)

// RoundTrips returns what the session's PINGs measured so far (its own
// Ping calls and the keep-alive's PINGs while idle).
func (s *Session) RoundTrips() RTTStats {
	s.pings.mu.Lock()
	defer s.pings.mu.Unlock()
	return s.pings.stats
}

// Session is the session the stream belongs to.
func (st *Stream) Session() *Session { return st.s }
