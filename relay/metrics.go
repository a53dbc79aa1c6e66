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

// newEngine builds the relay's policy engine from the options; its
// decision hook logs and counts every decision (recordDecision).
func (s *Server) newEngine() *policy.Engine {
	e := &policy.Engine{
		ResolveTimeout: s.opts.ResolveTimeout,
		DenyNames:      s.opts.DenyNames,
		NAT64Prefixes:  s.opts.NAT64Prefixes,
		OnDecision:     s.recordDecision,
	}
	for _, r := range []struct {
		list string
		dst  *[]policy.PortRange
	}{{s.opts.AllowPorts, &e.Ports.Allow}, {s.opts.DenyPorts, &e.Ports.Deny}} {
		ports, err := policy.ParsePortRanges(r.list)
		if err != nil {
			panic("relay: Options port rules: " + err.Error())
		}
		*r.dst = ports
	}
	if s.opts.Resolver != nil {
		e.Resolver = s.opts.Resolver
	}
	if len(s.opts.SelfAddrs) > 0 {
		var self policy.SelfSet
		for _, ap := range s.opts.SelfAddrs {
			self.Add(ap)
		}
		e.Self = self.Contains
	}
	return e
}

// recordDecision logs a policy decision once and counts it. Installed as
// the engine's OnDecision, it sees every Check, CheckAddr, CheckListen and
// gate denial: the relay logs no decision anywhere else.
func (s *Server) recordDecision(d policy.Decision) {
	s.metrics.decisions.Record(d)
	if d.Allowed() {
		s.log.Debug("relay: policy allowed", "decision", d)
		s.report(d)
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
	s.report(d)
}

func (s *Server) report(d policy.Decision) {
	if s.opts.OnDecision == nil {
		return
	}
	s.opts.OnDecision(Decision{App: d.App, Op: d.Op.String(), Allowed: d.Allowed(), Reason: d.Reason.String(), Host: d.Host, Port: d.Port, Addr: d.Addr})
}
