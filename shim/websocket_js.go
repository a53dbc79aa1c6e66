package shim

import (
	"context"

	"github.com/coder/websocket"
)

// dialWebSocket uses the browser's own WebSocket (through
// coder/websocket's js build) when the request needs nothing it cannot do,
// and otherwise runs sockshim's RFC 6455 client over a StreamSocket on the
// socket's transport (the relay), with TLS in Go for wss://.
func dialWebSocket(ctx context.Context, p *wsDialParams) (*wsDialed, error) {
	if !browserCan(p) {
		return dialRFC6455(ctx, p)
	}
	c, _, err := websocket.Dial(ctx, p.url.String(), &websocket.DialOptions{Subprotocols: p.protocols})
	if err != nil {
		// The browser reveals nothing about a refused handshake (no status,
		// no headers); say so rather than guess.
		return nil, &WebSocketError{Op: "connect", URL: p.url.String(), Status: WebErrorCannotConnect, Err: err}
	}
	return &wsDialed{conn: c}, nil
}

// browserCan reports whether the browser's WebSocket can make p's request:
// no headers of our own (credentials are headers), and the browser's
// default certificate handling.
func browserCan(p *wsDialParams) bool {
	if p.forceRaw || len(p.header) > 0 || p.serverCred != nil || p.proxyCred != nil {
		return false
	}
	if !p.transport.capabilities().browserWebSocket && p.transport != DefaultTransport {
		return false // the app chose a transport: honour it
	}
	return p.tls.clientCrt.get() == nil && p.tls.roots.get() == nil && len(p.tls.ignorable.get()) == 0
}
