//go:build !js

package shim

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// dialWebSocket runs coder/websocket's client over an HTTP transport whose
// connections are shim StreamSockets, so transports, the capability policy
// and sockshim's certificate handling apply to WebSockets too.
func dialWebSocket(ctx context.Context, p *wsDialParams) (*wsDialed, error) {
	if p.rfc6455 {
		return dialRFC6455(ctx, p)
	}
	var (
		mu    sync.Mutex
		count *countConn
		res   *tlsResult
		local *HostName
	)
	dial := func(secure bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			s, r, err := dialStreamSocket(ctx, p, addr, secure)
			mu.Lock()
			defer mu.Unlock()
			if secure {
				res = r
			}
			if err != nil {
				return nil, err
			}
			count, local = &countConn{Conn: s}, s.Information().LocalAddress
			return count, nil
		}
	}
	tr := &http.Transport{
		DialContext:       dial(false),
		DialTLSContext:    dial(true),
		DisableKeepAlives: true,
	}
	if p.transport.capabilities().environmentProxy {
		tr.Proxy = http.ProxyFromEnvironment
		// Through a proxy, net/http runs TLS itself after CONNECT: give it
		// the same verification.
		res = new(tlsResult)
		cfg, err := p.tls.tlsConfig(ProtectionLevelSsl, p.url.Hostname(), res)
		if err != nil {
			return nil, &WebSocketError{Op: "connect", URL: p.url.String(), Err: err}
		}
		tr.TLSClientConfig = cfg
		if p.proxyCred != nil {
			tr.ProxyConnectHeader = http.Header{"Proxy-Authorization": {p.proxyCred.basic()}}
		}
	}
	defer tr.CloseIdleConnections()
	c, resp, err := websocket.Dial(ctx, p.url.String(), &websocket.DialOptions{
		HTTPClient:      &http.Client{Transport: tr, CheckRedirect: noRedirects},
		HTTPHeader:      p.header,
		Subprotocols:    p.protocols,
		CompressionMode: websocket.CompressionDisabled,
	})
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		if se := socketErrorIn(err); se != nil {
			err = se // net/http's wrapping hides nothing we need
		}
		return nil, handshakeError(p.url.String(), p.protocols, resp, readBody(resp), err)
	}
	if p.url.Scheme != "wss" {
		res = nil
	}
	return &wsDialed{conn: c, count: count, res: res, local: local}, nil
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
