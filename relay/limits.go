package relay

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/sockshim/sockshim/internal/wisp"
)

// Limits bound what one app may use of the relay. Zero fields mean the
// defaults given; a stream over a limit is refused with CLOSE 0x49
// (throttled), a session over a limit with CLOSE 0x49 on stream 0.
type Limits struct {
	// MaxSessions open at once for the app; default 1024.
	MaxSessions int `json:"maxSessions"`
	// MaxStreamsPerSession open at once on one session; default 256.
	MaxStreamsPerSession int `json:"maxStreamsPerSession"`
	// MaxStreams open at once across the app's sessions; default 4096.
	MaxStreams int `json:"maxStreams"`
	// StreamsPerSecond is the sustained rate of new streams per session;
	// default 1000. StreamBurst is how many may open at once; default 500.
	StreamsPerSecond float64 `json:"streamsPerSecond"`
	StreamBurst      int     `json:"streamBurst"`
	// BytesPerSecond caps the app's relayed bytes, both directions together,
	// across its sessions; 0 means unlimited.
	BytesPerSecond int64 `json:"bytesPerSecond"`
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxSessions, 1024)
	def(&l.MaxStreamsPerSession, 256)
	def(&l.MaxStreams, 4096)
	def(&l.StreamBurst, 500)
	if l.StreamsPerSecond <= 0 {
		l.StreamsPerSecond = 1000
	}
	return l
}

// appUsage is what an app uses now, kept by app id across config reloads.
type appUsage struct {
	sessions atomic.Int64
	streams  atomic.Int64

	mu        sync.Mutex
	bandwidth *rate.Limiter // nil: unlimited
	bwLimit   int64
}

func (s *Server) usage(id string) *appUsage {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	u := s.apps[id]
	if u == nil {
		u = &appUsage{}
		s.apps[id] = u
	}
	return u
}

// sessionLimits is a session's share of the limits.
type sessionLimits struct {
	limits  Limits    // guarded by session.mu: a reload replaces it
	app     *appUsage // nil for a session without an app
	opens   *rate.Limiter
	streams atomic.Int64
}

// admitSession counts a new session against its app; release undoes it.
func (s *Server) admitSession(app *AppConfig) (*sessionLimits, func(), bool) {
	var l Limits
	if app != nil {
		l = app.Limits
	}
	l = l.withDefaults()
	sl := &sessionLimits{limits: l, opens: rate.NewLimiter(rate.Limit(l.StreamsPerSecond), l.StreamBurst)}
	if app == nil {
		return sl, func() {}, true
	}
	u := s.usage(app.ID)
	if u.sessions.Add(1) > int64(l.MaxSessions) {
		u.sessions.Add(-1)
		s.metrics.throttled.Add(1)
		return nil, nil, false
	}
	u.setBandwidth(l.BytesPerSecond)
	sl.app = u
	var once sync.Once
	return sl, func() { once.Do(func() { u.sessions.Add(-1) }) }, true
}

// setBandwidth applies the app's bytesPerSecond (at its first session, and
// when a reload changed it).
func (u *appUsage) setBandwidth(bps int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bwLimit == bps {
		return
	}
	u.bwLimit = bps
	u.bandwidth = nil
	if bps > 0 {
		burst := max(int(bps), 256<<10) // a whole packet always fits
		u.bandwidth = rate.NewLimiter(rate.Limit(bps), burst)
	}
}

// update applies a reloaded app's limits to the session: new streams see
// them at once. Called with session.mu held (admitStream reads limits
// under it).
func (sl *sessionLimits) update(l Limits) {
	l = l.withDefaults()
	sl.limits = l
	sl.opens.SetLimit(rate.Limit(l.StreamsPerSecond))
	sl.opens.SetBurst(l.StreamBurst)
	if sl.app != nil {
		sl.app.setBandwidth(l.BytesPerSecond)
	}
}

// admitStream counts a new stream against the session's, the app's and the
// relay's limits. It returns a release func, or false when over a limit.
func (s *Server) admitStream(sl *sessionLimits) (func(), bool) {
	over := func(undo ...*atomic.Int64) (func(), bool) {
		for _, c := range undo {
			c.Add(-1)
		}
		s.metrics.throttled.Add(1)
		return nil, false
	}
	if !sl.opens.Allow() {
		return over()
	}
	if sl.streams.Add(1) > int64(sl.limits.MaxStreamsPerSession) {
		return over(&sl.streams)
	}
	if sl.app != nil && sl.app.streams.Add(1) > int64(sl.limits.MaxStreams) {
		return over(&sl.streams, &sl.app.streams)
	}
	if s.streamsTotal.Add(1) > int64(s.opts.MaxStreams) {
		undo := []*atomic.Int64{&sl.streams, &s.streamsTotal}
		if sl.app != nil {
			undo = append(undo, &sl.app.streams)
		}
		return over(undo...)
	}
	s.metrics.streamsOpened.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			sl.streams.Add(-1)
			s.streamsTotal.Add(-1)
			if sl.app != nil {
				sl.app.streams.Add(-1)
			}
		})
	}, true
}

// bandwidthLimited reports whether the session's app has a bandwidth limit
// (its writes then go through throttle, which may wait).
func (s *Server) bandwidthLimited(sl *sessionLimits) bool {
	if sl == nil || sl.app == nil {
		return false
	}
	sl.app.mu.Lock()
	defer sl.app.mu.Unlock()
	return sl.app.bandwidth != nil
}

// throttle waits until the app's bandwidth allows n more bytes (TCP
// backpressure does the rest); it fails when ctx ends or done closes (the
// stream was aborted).
func (s *Server) throttle(ctx context.Context, done <-chan struct{}, sl *sessionLimits, n int) error {
	if sl == nil || sl.app == nil {
		return nil
	}
	sl.app.mu.Lock()
	bw := sl.app.bandwidth
	sl.app.mu.Unlock()
	if bw == nil {
		return nil
	}
	r := bw.ReserveN(time.Now(), n) // n <= the burst, which covers a whole packet
	d := r.Delay()
	if d == 0 {
		return nil
	}
	s.metrics.bandwidthWaits.Add(1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	case <-done:
		r.Cancel()
		return net.ErrClosed
	}
}

// refuseThrottled tells the client a stream was over a limit.
func (s *session) refuseThrottled(id uint32) {
	s.log.Info("relay: stream throttled", "stream", id)
	s.write(wisp.AppendClose(nil, id, wisp.ReasonThrottled))
}

// validate checks every limit; on error it names the key.
func (l Limits) validate() (string, error) {
	for _, f := range []struct {
		key string
		v   int
	}{{"maxSessions", l.MaxSessions}, {"maxStreamsPerSession", l.MaxStreamsPerSession}, {"maxStreams", l.MaxStreams}, {"streamBurst", l.StreamBurst}} {
		if f.v < 0 {
			return f.key, fmt.Errorf("%d is negative (0 means the default)", f.v)
		}
	}
	switch {
	case l.StreamsPerSecond < 0 || math.IsNaN(l.StreamsPerSecond) || math.IsInf(l.StreamsPerSecond, 0):
		return "streamsPerSecond", errors.New("want a finite number >= 0 (0 means the default)")
	case l.BytesPerSecond < 0:
		return "bytesPerSecond", errors.New("negative (0 means unlimited)")
	case l.BytesPerSecond > 0 && l.BytesPerSecond < 1024:
		return "bytesPerSecond", fmt.Errorf("%d is below 1024: no session could work", l.BytesPerSecond)
	}
	return "", nil
}
