package shim

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// RoundTripTimeStatistics mirrors
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.roundtriptimestatistics:
// round trip times in microseconds. Sum is, as in WinRT, the smoothed
// round trip time (not a sum of samples); Variance is its variation
// (RTTVAR), as WinRT's is.
type RoundTripTimeStatistics struct {
	Variance uint32
	Max      uint32
	Min      uint32
	Sum      uint32
}

// tcpSample is one reading of the real connection's TCP_INFO, on whichever
// machine holds the socket (the relay's, or this one's).
type tcpSample struct {
	valid               bool // the figures are the kernel's
	rtt, rttVar, minRTT uint32
	deliveryRate        uint64 // bytes/s, 0: unknown
	appLimited          bool
	bytesAcked          uint64
	bytesReceived       uint64
	elapsed             time.Duration // since the connection opened, by that machine's clock

	// Through a relay, the session's own round trips (PING to PONG).
	tunnel      RoundTripTimeStatistics
	tunnelValid bool
}

// sampler is a transport's connection that reads its statistics itself
// (a relayed one asks the relay).
type sampler interface {
	sample(ctx context.Context, opened time.Time) (tcpSample, error)
}

// statsState is what RefreshInformation keeps between readings.
type statsState struct {
	prev   tcpSample // the previous valid reading (elapsed 0: none yet)
	maxRTT uint32
	bw     BandwidthStatistics
}

// update folds s into the state and returns the statistics it gives.
func (st *statsState) update(s tcpSample) (BandwidthStatistics, RoundTripTimeStatistics) {
	if !s.valid {
		return BandwidthStatistics{}, RoundTripTimeStatistics{}
	}
	st.maxRTT = max(st.maxRTT, s.rtt)
	rtt := RoundTripTimeStatistics{Variance: s.rttVar, Max: st.maxRTT, Min: s.minRTT, Sum: s.rtt}
	if rtt.Min == 0 || rtt.Min > rtt.Max {
		rtt.Min = min(rtt.Max, s.rtt) // a kernel without tcpi_min_rtt
	}
	dt := (s.elapsed - st.prev.elapsed).Seconds()
	if dt <= 0 {
		return st.bw, rtt // two readings at one moment: the last rates stand
	}
	rate := func(now, before uint64) uint64 {
		if now < before {
			return 0
		}
		return uint64(float64(now-before) * 8 / dt)
	}
	diff := func(a, b uint64) uint64 { return max(a, b) - min(a, b) }
	bw := BandwidthStatistics{
		InboundBitsPerSecond:  rate(s.bytesReceived, st.prev.bytesReceived),
		OutboundBitsPerSecond: rate(s.bytesAcked, st.prev.bytesAcked),
	}
	if s.deliveryRate > 0 {
		bw.OutboundBitsPerSecond = s.deliveryRate * 8
		bw.OutboundBandwidthPeaked = !s.appLimited
	}
	if st.prev.elapsed > 0 {
		bw.InboundBitsPerSecondInstability = diff(bw.InboundBitsPerSecond, st.bw.InboundBitsPerSecond)
		bw.OutboundBitsPerSecondInstability = diff(bw.OutboundBitsPerSecond, st.bw.OutboundBitsPerSecond)
	}
	st.prev, st.bw = s, bw
	return bw, rtt
}

// RefreshInformation reads the real connection's statistics and returns
// Information with them (Information itself returns what the last call
// read). Through a relay it costs two round trips through the tunnel: a
// PING, then the relay's TCP_INFO of its connection (sockshim's TCP
// control extension); natively, DirectTransport reads this machine's
// TCP_INFO (Linux). The figures:
//
//   - RoundTripTimeStatistics, of the real TCP connection (relay to
//     destination, or here to destination): Sum is the kernel's smoothed
//     RTT (tcpi_rtt), Variance its variation (tcpi_rttvar), Min the lowest
//     RTT the kernel saw (tcpi_min_rtt), Max the highest smoothed RTT any
//     RefreshInformation call read (the kernel keeps no maximum).
//   - BandwidthStatistics.OutboundBitsPerSecond: the kernel's delivery rate
//     estimate (tcpi_delivery_rate); OutboundBandwidthPeaked says it was
//     not app-limited, so it measures the path rather than the sender.
//     Without that estimate: bytes acknowledged per second since the
//     previous call.
//   - InboundBitsPerSecond: bytes received from the destination per second
//     since the previous call (since the connection opened, the first
//     time), by the clock of the machine holding the socket. The kernel
//     estimates no inbound bandwidth, so InboundBandwidthPeaked is false.
//   - The instabilities: how much each rate moved since the previous call.
//   - TunnelRoundTripTimeStatistics (through a relay only): this client's
//     PING to PONG round trips on the session (sockshim's liveness
//     extension), every socket of the session sharing them: Min, Max, Sum
//     (RFC 6298's smoothed RTT) and Variance (RTTVAR). In a browser they
//     have the page's clock resolution: Firefox coarsens it to 1 ms
//     (unless the page is cross-origin isolated), Chromium to 100 µs, so
//     a loopback round trip can read 0.
//
// A relay without the TCP control extension (a plain Wisp server) fails
// with ErrNotSupported, with the tunnel's figures filled if it answers
// PING; so does a platform without TCP_INFO.
func (s *StreamSocket) RefreshInformation(ctx context.Context) (StreamSocketInformation, error) {
	c, err := s.c()
	if err != nil {
		return StreamSocketInformation{}, wrapErr("refresh information", "", err)
	}
	s.mu.Lock()
	opened := s.openedAt
	s.mu.Unlock()
	smp, err := sampleConn(ctx, unwrapConn(c), opened)
	s.mu.Lock()
	defer s.mu.Unlock()
	if smp.tunnelValid {
		s.info.TunnelRoundTripTimeStatistics = smp.tunnel
	}
	if err != nil {
		return s.info, wrapErr("refresh information", s.addr(), err)
	}
	s.info.BandwidthStatistics, s.info.RoundTripTimeStatistics = s.stats.update(smp)
	return s.info, nil
}

// sampleConn reads c's statistics: its own way for a transport's
// connection, else the operating system's socket (information_stats_*.go).
func sampleConn(ctx context.Context, c net.Conn, opened time.Time) (tcpSample, error) {
	if sm, ok := c.(sampler); ok {
		return sm.sample(ctx, opened)
	}
	return osSample(c, opened)
}

// unwrapConn is the transport's connection under TLS.
func unwrapConn(c net.Conn) net.Conn {
	for {
		switch w := c.(type) {
		case *tls.Conn:
			c = w.NetConn()
		default:
			return c
		}
	}
}
