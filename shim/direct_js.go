package shim

import (
	"context"
	"net"
	"syscall/js"
)

// DirectTransport opens operating-system sockets. A browser has none: every
// socket on it fails with ErrNotSupported; use RelayTransport.
func DirectTransport(opts *DirectOptions) Transport { return directTransport{} }

type directTransport struct{}

func (directTransport) String() string { return "direct" }

func (directTransport) dialStream(context.Context, *HostName, uint16) (net.Conn, error) {
	return nil, errf("direct sockets in a browser: %w (use RelayTransport)", ErrNotSupported)
}

func (directTransport) listenStream(context.Context, string, uint16, listenOptions) (streamListener, error) {
	return nil, errf("direct listeners in a browser: %w (use RelayTransport)", ErrNotSupported)
}

// defaultTransport is the relay at the page's own origin.
func defaultTransport() Transport {
	loc := js.Global().Get("location")
	if loc.IsUndefined() || loc.Get("host").IsUndefined() {
		return DirectTransport(nil) // Node: no page, no default relay
	}
	scheme := "ws"
	if loc.Get("protocol").String() == "https:" {
		scheme = "wss"
	}
	return RelayTransport(scheme+"://"+loc.Get("host").String()+"/wisp/", nil)
}

// A browser build applies no capability policy of its own (the relay does,
// and its denials arrive as wisp close reasons): no error is the policy's.
func policyDenied(error) (reason string, denied bool) { return "", false }

func policyHostNotFound(error) bool { return false }
