//go:build js

package relay

import "net/http"

// The js build (the edge relay on Cloudflare Workers) links no Prometheus:
// client_golang and its protobuf dependencies are about 0.9 MB of the
// Worker's gzip size, over the free plan's 3 MB, and a Worker instance
// lives for one session, so there is nothing to scrape. The counters stay
// (they cost an atomic add); the histograms are no-ops.

type registry struct{}

type noObserver struct{}

func (noObserver) Observe(float64) {}

func (s *Server) newRegistry() registry {
	s.metrics.dialSeconds, s.metrics.sessionSeconds = noObserver{}, noObserver{}
	return registry{}
}

// MetricsHandler answers 404: the js build collects no Prometheus metrics.
func (s *Server) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no metrics in the js build of the relay (the edge relay)", http.StatusNotFound)
	})
}
