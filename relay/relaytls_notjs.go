//go:build !js

package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
)

// clientTLS runs the relay's TLS client over conn to serverName, and closes
// conn if the handshake fails.
func (s *Server) clientTLS(ctx context.Context, conn net.Conn, serverName string) (net.Conn, error) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true) // run() sees only the *tls.Conn
	}
	tc := tls.Client(conn, &tls.Config{
		ServerName: serverName,
		RootCAs:    s.opts.RelayTLSRoots, // nil: the system's
		MinVersion: tls.VersionTLS12,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return nil, err // a handshake that timed out: ReasonTimeout
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The client learns only 0xD5; the operator sees which check failed.
		s.log.Info("relay: relay TLS failed", "server_name", serverName, "remote", conn.RemoteAddr().String(), "err", err)
		return nil, fmt.Errorf("%w: %w", ErrTLSFailed, err)
	}
	return tc, nil
}
