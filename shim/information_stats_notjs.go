//go:build !js

package shim

import (
	"net"
	"time"

	"github.com/sockshim/sockshim/internal/tcpctl"
)

// osSample reads this machine's TCP_INFO of c (DirectTransport's sockets).
func osSample(c net.Conn, opened time.Time) (tcpSample, error) {
	info, err := tcpctl.Read(c)
	if err != nil {
		return tcpSample{}, directErr(err)
	}
	return tcpSample{
		valid: true, rtt: info.RTT, rttVar: info.RTTVar, minRTT: info.MinRTT,
		deliveryRate: info.DeliveryRate, appLimited: info.AppLimited,
		bytesAcked: info.BytesAcked, bytesReceived: info.BytesReceived,
		elapsed: time.Since(opened),
	}, nil
}
