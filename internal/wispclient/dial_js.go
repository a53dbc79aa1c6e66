package wispclient

import (
	"context"

	"github.com/sockshim/sockshim/internal/cork"
	"github.com/sockshim/sockshim/internal/wsmsg"
)

// writesNeverBlock: the browser's WebSocket.send queues and returns, so
// Session.send writes frames queued for the writer goroutine itself rather
// than copying its frame to queue it behind them.
const writesNeverBlock = true

// canWebSocketPing: browser JS cannot send WebSocket pings.
const canWebSocketPing = false

// dial opens the browser's WebSocket, which sets Origin and every other
// handshake header itself and does its own framing (no cork.Conn). It is
// wsmsg's binding of the browser's WebSocket, not coder/websocket's js
// build: one Go/JS crossing and one copy per message each way, and no
// callback while messages are queued (see wsmsg.Conn).
func dial(ctx context.Context, url string, o *Options) (*wsmsg.Conn, *cork.Conn, error) {
	var protocols []string
	if !o.V1 {
		protocols = []string{Subprotocol}
	}
	conn, err := wsmsg.Dial(ctx, url, protocols)
	return conn, nil, err
}
