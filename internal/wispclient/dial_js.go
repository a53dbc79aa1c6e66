package wispclient

import "github.com/coder/websocket"

// The browser sets Origin and every other handshake header itself.
func dialOptions(o *Options) *websocket.DialOptions {
	d := &websocket.DialOptions{}
	if !o.V1 {
		d.Subprotocols = []string{Subprotocol}
	}
	return d
}
