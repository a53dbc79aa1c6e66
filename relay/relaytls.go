package relay

import "errors"

// Relay TLS (wisp.StreamTLS): a client that cannot or will not run TLS
// itself asks the relay to. The policy decides the destination as for any
// stream (natively: resolve, classify every answer, dial only the checked
// addresses); the relay then runs a TLS client over that connection, with
// the host the client named as SNI and as the name verified (an IP literal
// is verified against the certificate's IP addresses). The relay sees the
// plaintext: it is the client's choice, and never the default.

// ErrTLSFailed is what EdgeOptions.Dial (and the native relay's own TLS
// client) return for a relay-TLS stream whose TCP connection opened but whose
// TLS handshake failed: the relay closes the stream with
// wisp.ReasonTLSFailed (0xD5).
var ErrTLSFailed = errors.New("relay: TLS with the destination failed")
