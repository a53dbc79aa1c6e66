package shim

import (
	"context"
	"errors"
	"time"

	"github.com/sockshim/sockshim/internal/wispclient"
)

// sample asks the relay for its TCP_INFO of the connection (STATS), after
// one PING for the tunnel's round trip. Like transport_relay.go, it maps
// the Wisp client's errors where they enter.
func (c relayConn) sample(ctx context.Context, _ time.Time) (tcpSample, error) {
	sess := c.Stream.Session()
	var out tcpSample
	_, perr := sess.Ping(ctx)
	if rt := sess.RoundTrips(); rt.Samples > 0 {
		us := func(d time.Duration) uint32 { return uint32(min(d.Microseconds(), 1<<32-1)) }
		out.tunnel = RoundTripTimeStatistics{Min: us(rt.Min), Max: us(rt.Max), Sum: us(rt.Smoothed), Variance: us(rt.Variation)}
		out.tunnelValid = true
	}
	if perr != nil && !errors.Is(perr, wispclient.ErrNoLiveness) {
		return out, relayErr(perr)
	}
	st, err := c.Stream.Stats(ctx)
	if err != nil {
		return out, relayErr(err)
	}
	if !st.Valid {
		return out, errf("TCP statistics: %w (the relay's platform has no TCP_INFO)", ErrNotSupported)
	}
	out.valid = true
	out.rtt, out.rttVar, out.minRTT = st.RTT, st.RTTVar, st.MinRTT
	out.deliveryRate, out.appLimited = st.DeliveryRate, st.AppLimited
	out.bytesAcked, out.bytesReceived = st.BytesAcked, st.BytesReceived
	out.elapsed = time.Duration(st.ElapsedMicros) * time.Microsecond
	return out, nil
}
