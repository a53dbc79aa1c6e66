package shim

import (
	"context"
	"time"

	"github.com/sockshim/sockshim/internal/rfc6455"
)

// dialRFC6455 opens the connection through p's transport and runs
// internal/rfc6455's client over it: the browser build's path for requests
// the browser's WebSocket cannot make.
func dialRFC6455(ctx context.Context, p *wsDialParams) (*wsDialed, error) {
	uri := p.url.String()
	secure := p.url.Scheme == "wss"
	s, res, err := dialStreamSocket(ctx, p, hostPort(p.url), secure)
	if err != nil {
		return nil, handshakeError(uri, p.protocols, nil, nil, err)
	}
	count := &countConn{Conn: s}
	if !secure {
		res = nil
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { s.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, resp, body, err := rfc6455.Handshake(count, p.url, p.header, p.protocols)
	if err != nil {
		s.Close()
		return nil, handshakeError(uri, p.protocols, resp, body, err)
	}
	s.SetDeadline(time.Time{})
	return &wsDialed{conn: c, count: count, res: res, local: s.Information().LocalAddress}, nil
}
