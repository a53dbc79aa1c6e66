//go:build !js

package wispclient

import "github.com/coder/websocket"

func dialOptions(o *Options) *websocket.DialOptions {
	d := &websocket.DialOptions{HTTPHeader: o.Header, CompressionMode: websocket.CompressionDisabled}
	if !o.V1 {
		d.Subprotocols = []string{Subprotocol}
	}
	return d
}
