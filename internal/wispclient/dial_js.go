package wispclient

import (
	"context"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/cork"
)

// canWebSocketPing: browser JS cannot send WebSocket pings.
const canWebSocketPing = false

// dial opens the browser's WebSocket, which sets Origin and every other
// handshake header itself and does its own framing (no cork.Conn).
func dial(ctx context.Context, url string, o *Options) (*websocket.Conn, *cork.Conn, error) {
	d := &websocket.DialOptions{}
	if !o.V1 {
		d.Subprotocols = []string{Subprotocol}
	}
	conn, _, err := websocket.Dial(ctx, url, d)
	return conn, nil, err
}
