package wispclient

import (
	"errors"
	"syscall/js"

	"github.com/pion/webrtc/v4"
)

// newPeerConnection wraps the browser's RTCPeerConnection; where there is
// none (Node), the socket stays on the WebSocket.
func newPeerConnection() (*webrtc.PeerConnection, error) {
	if js.Global().Get("RTCPeerConnection").IsUndefined() {
		return nil, errors.New("no RTCPeerConnection here")
	}
	return webrtc.NewPeerConnection(webrtc.Configuration{})
}
