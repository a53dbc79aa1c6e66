package shim

import (
	"context"
	"errors"
	"fmt"

	"github.com/coder/websocket"
)

// dialWebSocket uses the browser's own WebSocket (websocket_browser_js.go)
// when the request needs nothing it cannot do, and otherwise runs
// sockshim's RFC 6455 client over a StreamSocket on the socket's transport
// (the relay), with TLS in Go for wss://.
func dialWebSocket(ctx context.Context, p *wsDialParams) (*wsDialed, error) {
	if !browserCan(p) {
		return dialRFC6455(ctx, p)
	}
	c, err := dialBrowser(ctx, p.url.String(), p.protocols, p.sendBound)
	if err != nil {
		return nil, browserHandshakeError(ctx, p, err)
	}
	return &wsDialed{conn: c}, nil
}

// errHandshakeHidden: the browser's WebSocket failed before it opened and
// tells script nothing more (no HTTP status, no headers).
var errHandshakeHidden = errors.New("the browser's WebSocket failed to open; a browser hides why from script (no HTTP status or headers)")

// browserHandshakeError explains a failed browser handshake. Its status is
// Unknown, never a guess, unless the app opted in to the probe and the
// probe read an HTTP error status (see SetProbeRefusedHandshake).
func browserHandshakeError(ctx context.Context, p *wsDialParams, err error) error {
	uri := p.url.String()
	if ctx.Err() != nil {
		return &WebSocketError{Op: "connect", URL: uri, Status: webStatusOf(ctx.Err()), Err: ctx.Err()}
	}
	we := &WebSocketError{Op: "connect", URL: uri, Err: fmt.Errorf("%w: %w", errHandshakeHidden, err)}
	var ce websocket.CloseError
	if errors.As(err, &ce) && ce.Code != websocket.StatusAbnormalClosure {
		// A close frame arrived, so the handshake succeeded: Firefox fires
		// no open event when the server's close comes with its answer.
		we.Err = fmt.Errorf("the server accepted the handshake and closed at once, with %d %q, before the browser reported the socket open: %w", ce.Code, ce.Reason, err)
		return we
	}
	if !p.probe {
		we.Err = fmt.Errorf("%w (SetProbeRefusedHandshake or a request header, which takes the tunnelled path, can tell more): %w", errHandshakeHidden, err)
		return we
	}
	status, note := probeHandshake(ctx, p.url)
	we.Err = fmt.Errorf("%w; %s: %w", errHandshakeHidden, note, err)
	we.Status = status
	return we
}

// browserCan reports whether the browser's WebSocket can make p's request:
// no headers of our own (credentials are headers), and the browser's
// default certificate handling.
func browserCan(p *wsDialParams) bool {
	if p.rfc6455 || len(p.header) > 0 || p.serverCred != nil || p.proxyCred != nil {
		return false
	}
	if !p.transport.capabilities().browserWebSocket && p.transport != DefaultTransport {
		return false // the app chose a transport: honour it
	}
	return p.tls.clientCrt.get() == nil && p.tls.roots.get() == nil && len(p.tls.ignorable.get()) == 0
}
