//go:build !js

package relay

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sockshim/sockshim/internal/policy"
)

type registry = *prometheus.Registry

// newRegistry builds the relay's Prometheus registry: the Go runtime and
// process collectors (process_open_fds is the descriptor count), and the
// relay's own metrics, every one named sockshim_*.
func (s *Server) newRegistry() *prometheus.Registry {
	m := &s.metrics
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, v *atomic.Int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) }))
	}
	gauge := func(name, help string, f func() int64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f()) }))
	}
	gauge("sockshim_sessions_open", "Wisp sessions open now.", m.sessionsOpen.Load)
	counter("sockshim_sessions_total", "Wisp sessions accepted.", &m.sessionsTotal)
	counter("sockshim_sessions_refused_total", "Sessions refused by origin, credential or limits, or whose handshake failed.", &m.sessionsDenied)
	gauge("sockshim_streams_open", "Streams open now.", s.streamsTotal.Load)
	counter("sockshim_streams_opened_total", "Streams admitted.", &m.streamsOpened)
	counter("sockshim_throttled_total", "Sessions or streams refused for a limit (CLOSE 0x49).", &m.throttled)
	counter("sockshim_bandwidth_waits_total", "Reads or writes delayed by an app's bandwidth limit.", &m.bandwidthWaits)
	counter("sockshim_dead_peers_total", "Sessions ended because the client did not answer a keepalive ping.", &m.deadPeers)
	counter("sockshim_reload_closed_sessions_total", "Sessions closed because a config reload no longer admits them.", &m.reloadClosed)
	for c := range numCauses {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sockshim_handshake_failures_total", Help: "Wisp handshakes that failed, by cause.",
			ConstLabels: prometheus.Labels{"cause": c.String()},
		}, func() float64 { return float64(m.handshakes[c].Load()) }))
	}
	for _, r := range policy.Reasons() {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sockshim_policy_decisions_total", Help: "Policy decisions by reason.",
			ConstLabels: prometheus.Labels{"reason": r.String()},
		}, func() float64 { return float64(m.decisions.Load(r)) }))
	}
	for dir, v := range map[string]*atomic.Int64{"to_destination": &m.bytesToDest, "to_client": &m.bytesToClient} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sockshim_relayed_bytes_total", Help: "Payload bytes relayed, by direction (TCP and UDP).",
			ConstLabels: prometheus.Labels{"direction": dir},
		}, func() float64 { return float64(v.Load()) }))
	}
	dial := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "sockshim_dial_duration_seconds", Help: "Time to open a TCP stream's destination: policy check, resolution and connect, failures included.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5 ms .. 131 s
	})
	session := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "sockshim_session_duration_seconds", Help: "How long sessions lasted, from the handshake to their end.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10), // 1 s .. 3 days
	})
	reg.MustRegister(dial, session)
	s.registerResumeMetrics(counter, gauge) // resume.go
	m.dialSeconds, m.sessionSeconds = dial, session
	s.broker.register(reg) // broker_metrics_notjs.go
	return reg
}

// MetricsHandler serves the relay's metrics in the Prometheus text format.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}
