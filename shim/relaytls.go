package shim

import (
	"context"
	"net"

	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// ProtectionLevelRelayTls (sockshim's own; WinRT has no such member) asks
// the relay to run TLS to the destination: ConnectWithProtectionLevel (or a
// Dialer's ProtectionLevel) opens TCP at the relay, which does the TLS
// handshake itself, with host as the server name it sends (SNI) and
// verifies, against the relay's roots, and carries the plaintext over the
// tunnel.
//
// It is NOT end to end: the relay sees and could alter everything sent and
// received, and the certificate is checked by the relay, not here. Prefer
// ProtectionLevelSsl (TLS in this process, end to end) unless the relay is
// yours and TLS here is too costly: a Go TLS handshake in a browser takes
// 40-90 ms, a relay's a fraction of that.
//
// Information reports ProtectionLevelRelayTls, never Ssl, and no server
// certificate (the relay does not forward it). A certificate the relay
// refuses, or a destination that does not speak TLS, fails Connect with
// SocketErrorCertificateIsInvalid (the relay does not say which check
// failed). The options of TLS in the client (TrustedRoots,
// IgnorableServerCertificateErrors, ClientCertificate) cannot apply, and
// Connect fails with ErrNotSupported when one is set. So it does through
// DirectTransport, and through a relay without relay TLS (plain Wisp
// servers); both sockshim relays have it (the native relay with crypto/tls
// and the system's roots, the edge relay with connect()'s secureTransport
// "on"). UpgradeToSsl cannot switch to it.
const ProtectionLevelRelayTls SocketProtectionLevel = 0x80

// relayTLSTransport is a transport whose relay can do TLS to destinations.
type relayTLSTransport interface {
	dialStreamTLS(ctx context.Context, host *HostName, port uint16) (net.Conn, error)
}

// dialRelayTLS opens a relay-TLS connection on t for s.
func (s *StreamSocket) dialRelayTLS(ctx context.Context, t Transport, host *HostName, port uint16) (net.Conn, error) {
	rt, ok := t.(relayTLSTransport)
	if !ok {
		return nil, errf("ProtectionLevelRelayTls on %v: %w (only a relay does TLS for its clients; use ProtectionLevelSsl)", t, ErrNotSupported)
	}
	if s.control.TrustedRoots() != nil || len(s.control.IgnorableServerCertificateErrors()) > 0 || s.control.ClientCertificate() != nil {
		return nil, errf("ProtectionLevelRelayTls with TrustedRoots, IgnorableServerCertificateErrors or ClientCertificate: %w (the relay verifies the server with its own roots and has no client certificate; use ProtectionLevelSsl)", ErrNotSupported)
	}
	return rt.dialStreamTLS(ctx, host, port)
}

func (t *relayTransport) dialStreamTLS(ctx context.Context, host *HostName, port uint16) (net.Conn, error) {
	st, err := onSession(t, ctx, func(s *wispclient.Session) (*wispclient.Stream, error) {
		return s.Open(ctx, wisp.StreamTLS, host.CanonicalName(), port)
	})
	if err != nil {
		return nil, relayErr(err)
	}
	return relayConn{st}, nil
}
