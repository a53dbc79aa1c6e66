package shim

import "context"

func (directTransport) datagram(context.Context, *datagramRequest) (datagramConn, error) {
	return nil, errf("direct UDP sockets in a browser: %w (use RelayTransport)", ErrNotSupported)
}
