package shim

import (
	"context"
	"net"
)

// DirectTransport opens operating-system sockets. A browser has none: every
// socket on it fails with ErrNotSupported; use RelayTransport.
func DirectTransport(opts *DirectOptions) Transport { return directTransport{} }

type directTransport struct{}

func (directTransport) String() string { return "direct" }

// capabilities: a WebSocket may use the browser's own. Socket options are
// not refused up front: every socket fails with ErrNotSupported anyway.
func (directTransport) capabilities() transportCaps {
	return transportCaps{tcpOptions: true, browserWebSocket: true}
}

func (directTransport) dialStream(context.Context, *HostName, uint16, streamOptions) (net.Conn, error) {
	return nil, errf("direct sockets in a browser: %w (use RelayTransport)", ErrNotSupported)
}

func (directTransport) listenStream(context.Context, string, uint16, listenOptions) (streamListener, error) {
	return nil, errf("direct listeners in a browser: %w (use RelayTransport)", ErrNotSupported)
}

func (directTransport) datagram(context.Context, *datagramRequest) (datagramConn, error) {
	return nil, errf("direct UDP sockets in a browser: %w (use RelayTransport)", ErrNotSupported)
}
