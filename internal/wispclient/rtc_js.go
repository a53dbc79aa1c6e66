package wispclient

import "github.com/pion/webrtc/v4"

// newPeerConnection wraps the browser's RTCPeerConnection.
func newPeerConnection() (*webrtc.PeerConnection, error) {
	return webrtc.NewPeerConnection(webrtc.Configuration{})
}
