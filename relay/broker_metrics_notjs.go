//go:build !js

package relay

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// register adds the broker's metrics to the relay's registry.
func (b *broker) register(reg *prometheus.Registry) {
	gauge := func(name, help string, v *atomic.Int64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) }))
	}
	counter := func(name, help string, v *atomic.Int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) }))
	}
	gauge("sockshim_broker_held_sockets", "Sockets the broker holds now (streams, listeners, connections held listeners accepted; transfers in progress included).", &b.sockets)
	gauge("sockshim_broker_held_bytes", "Bytes the broker buffers now for held sockets.", &b.bytes)
	counter("sockshim_broker_transfers_total", "Sockets the broker took (transfers, and connections held listeners accepted).", &b.transfers)
	counter("sockshim_broker_reclaims_total", "Held sockets reclaimed by a session.", &b.reclaims)
	counter("sockshim_broker_expired_total", "Held sockets released because their lease expired.", &b.expired)
	counter("sockshim_broker_refused_total", "Transfers and held-listener connections refused (limits, socket ids in use, sockets not open).", &b.refused)
	counter("sockshim_broker_accepted_total", "Connections held listeners accepted.", &b.accepted)
	counter("sockshim_broker_dropped_datagrams_total", "Datagrams held UDP sockets dropped past their bounds (UDP has no flow control to push a peer back).", &b.droppedDatagrams)
	counter("sockshim_broker_pushes_total", "Web Push activations sent (broker.push).", &b.pushes)
	counter("sockshim_broker_push_failures_total", "Web Push activations that failed.", &b.pushFailures)
}
