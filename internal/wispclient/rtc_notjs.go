//go:build !js

package wispclient

import (
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// newPeerConnection makes a native peer: loopback candidates included (a
// relay on the same host is reachable), mDNS off (the relay never resolves
// .local names), UDP over IPv4 and IPv6.
func newPeerConnection() (*webrtc.PeerConnection, error) {
	var se webrtc.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	se.LoggerFactory = lf
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	return webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
}
