//go:build !js

package wispclient

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/cork"
)

// writesNeverBlock is false: a write can wait for the socket, so
// Session.send leaves frames queued for the writer goroutine to it.
const writesNeverBlock = false

// canWebSocketPing: natively the session can check a server without
// ExtLiveness with WebSocket pings.
const canWebSocketPing = true

// dial opens the WebSocket over a cork.Conn, so the writer can coalesce
// frames (see Session.writeFrames).
func dial(ctx context.Context, url string, o *Options) (*websocket.Conn, *cork.Conn, error) {
	d := &websocket.DialOptions{HTTPHeader: o.Header, CompressionMode: websocket.CompressionDisabled}
	if !o.V1 {
		d.Subprotocols = []string{Subprotocol}
	}
	var out *cork.Conn
	tr := http.DefaultTransport.(*http.Transport).Clone()
	nd := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		out = cork.New(c)
		return out, nil
	}
	d.HTTPClient = &http.Client{Transport: tr}
	conn, _, err := websocket.Dial(ctx, url, d)
	if err != nil {
		return nil, nil, err
	}
	return conn, out, nil
}
