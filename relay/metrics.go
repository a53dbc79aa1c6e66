package relay

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/sockshim/sockshim/internal/policy"
)

// metrics are the relay's counters, served in the Prometheus text format
// by MetricsHandler.
type metrics struct {
	sessionsOpen   atomic.Int64
	sessionsTotal  atomic.Int64
	sessionsDenied atomic.Int64 // refused: origin, credential, limits
	streamsOpened  atomic.Int64
	throttled      atomic.Int64
	bandwidthWaits atomic.Int64 // reads or writes delayed by an app's bytesPerSecond
	decisions      policy.Counters
}

// recordDecision logs a policy decision once and counts it. Installed as
// the engine's OnDecision, it sees every Check, CheckAddr and gate denial.
func (s *Server) recordDecision(d policy.Decision) {
	s.metrics.decisions.Record(d)
	if d.Allowed() {
		s.log.Debug("relay: policy", "decision", d)
	} else {
		s.log.Info("relay: policy denied", "decision", d)
	}
}

// MetricsHandler serves the relay's counters in the Prometheus text format.
func (s *Server) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		m := &s.metrics
		gauge := func(name, help string, v int64) {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
		}
		counter := func(name, help string, v int64) {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
		}
		gauge("sockshim_sessions_open", "Wisp sessions open now.", m.sessionsOpen.Load())
		counter("sockshim_sessions_total", "Wisp sessions accepted.", m.sessionsTotal.Load())
		counter("sockshim_sessions_refused_total", "Sessions refused by origin, credential or limits.", m.sessionsDenied.Load())
		gauge("sockshim_streams_open", "Streams open now.", s.streamsTotal.Load())
		counter("sockshim_streams_opened_total", "Streams admitted.", m.streamsOpened.Load())
		counter("sockshim_throttled_total", "Sessions or streams refused for a limit (CLOSE 0x49).", m.throttled.Load())
		counter("sockshim_bandwidth_waits_total", "Reads or writes delayed by an app's bandwidth limit.", m.bandwidthWaits.Load())
		s.writeResumeMetrics(gauge, counter)
		fmt.Fprintf(w, "# HELP sockshim_policy_decisions_total Policy decisions by reason.\n# TYPE sockshim_policy_decisions_total counter\n")
		for _, r := range policy.Reasons() {
			fmt.Fprintf(w, "sockshim_policy_decisions_total{reason=%q} %d\n", r.String(), m.decisions.Load(r))
		}
	})
}
