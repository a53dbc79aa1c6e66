package relay

import (
	"sync/atomic"

	"github.com/sockshim/sockshim/internal/policy"
)

// metrics are the relay's counters. The hot paths touch only atomics; the
// Prometheus registry reads them through CounterFuncs and GaugeFuncs when
// /metrics is scraped.
type metrics struct {
	sessionsOpen   atomic.Int64
	sessionsTotal  atomic.Int64
	sessionsDenied atomic.Int64 // refused: origin, credential, limits, failed handshakes
	streamsOpened  atomic.Int64
	throttled      atomic.Int64
	bandwidthWaits atomic.Int64 // reads or writes delayed by an app's bytesPerSecond
	decisions      policy.Counters
	handshakes     [numCauses]atomic.Int64 // failed handshakes by cause
	deadPeers      atomic.Int64            // sessions ended by an unanswered ping
	reloadClosed   atomic.Int64            // sessions a config reload no longer admitted

	// Payload bytes relayed: one uncontended-enough atomic add per packet,
	// no lock, no allocation.
	bytesToDest   atomic.Int64
	bytesToClient atomic.Int64

	dialSeconds    observer // policy check, resolution and connect of a stream
	sessionSeconds observer // handshake done to session end
}

// observer is a histogram (prometheus.Histogram natively; a no-op in the js
// build, which links no Prometheus: metrics_js.go).
type observer interface{ Observe(float64) }

func (m *metrics) handshakeFailed(c handshakeCause) {
	m.sessionsDenied.Add(1)
	m.handshakes[c].Add(1)
}

// recordDecision logs a policy decision once and counts it. Installed as
// the engine's OnDecision, it sees every Check, CheckAddr, CheckListen and
// gate denial: the relay logs no decision anywhere else.
func (s *Server) recordDecision(d policy.Decision) {
	s.metrics.decisions.Record(d)
	if d.Allowed() {
		s.log.Debug("relay: policy allowed", "decision", d)
		return
	}
	msg := "relay: policy denied"
	switch d.Op {
	case policy.OpConnect:
		msg = "relay: connect denied"
	case policy.OpDatagram:
		msg = "relay: datagram denied"
	case policy.OpBind:
		msg = "relay: bind denied"
	case policy.OpAccept:
		msg = "relay: accept denied"
	case policy.OpICE:
		msg = "relay: ICE candidate denied"
	}
	s.log.Info(msg, "decision", d)
}
