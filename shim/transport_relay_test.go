package shim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// TestRelayErrorsMapAtTheEdge: every error the Wisp client can hand the
// relay transport leaves it with the status and sentinel sockets report,
// and with the Wisp cause still in the chain.
func TestRelayErrorsMapAtTheEdge(t *testing.T) {
	t.Parallel()
	closed := func(r wisp.CloseReason) error {
		// as Stream.Read returns it
		return &net.OpError{Op: "read", Net: "wisp", Err: &wisp.CloseError{Reason: r}}
	}
	tests := []struct {
		name   string
		in     error
		status SocketErrorStatus
		kind   error // sentinel the mapped error satisfies, or nil
		text   string
	}{
		{"refused", closed(wisp.ReasonRefused), SocketErrorConnectionRefused, nil, ""},
		{"connect timeout", closed(wisp.ReasonTimeout), SocketErrorConnectionTimedOut, nil, ""},
		{"data timeout", closed(wisp.ReasonDataTimeout), SocketErrorConnectionTimedOut, nil, ""},
		{"unreachable", closed(wisp.ReasonUnreachable), SocketErrorUnreachableHost, nil, ""},
		{"net unreachable", closed(wisp.ReasonNetUnreachable), SocketErrorNetworkIsUnreachable, nil, ""},
		{"host not found", closed(wisp.ReasonHostNotFound), SocketErrorHostNotFound, nil, ""},
		{"reset", closed(wisp.ReasonReset), SocketErrorConnectionResetByPeer, nil, ""},
		{"network error", closed(wisp.ReasonNetworkError), SocketErrorConnectionResetByPeer, nil, ""},
		{"unknown reason", closed(wisp.ReasonUnknown), SocketErrorSoftwareCausedConnectionAbort, nil, ""},
		{"address in use", closed(wisp.ReasonAddrInUse), SocketErrorAddressAlreadyInUse, nil, ""},
		{"relay TLS failed", closed(wisp.ReasonTLSFailed), SocketErrorCertificateIsInvalid, nil, ""},
		{"throttled", closed(wisp.ReasonThrottled), SocketErrorUnknown, nil, ""},
		{"blocked", closed(wisp.ReasonBlocked), SocketErrorUnknown, ErrAccessDenied,
			"access denied by network capability policy (relay: " + wisp.ReasonBlocked.String() + ")"},
		{"invalid", closed(wisp.ReasonInvalid), SocketErrorUnknown, ErrInvalidArgument, ""},
		{"refused session", &wispclient.HandshakeError{Reason: wisp.ReasonAuthBad}, SocketErrorUnknown, nil, ""},
		{"datagram too long", fmt.Errorf("write: %w", wispclient.ErrMessageTooLong), SocketErrorMessageTooLong, nil, ""},
		{"no half-close", wispclient.ErrNoHalfClose, SocketErrorUnknown, ErrNotSupported,
			"not supported: " + wispclient.ErrNoHalfClose.Error()},
		{"no listeners", wispclient.ErrNoListen, SocketErrorUnknown, ErrNotSupported, ""},
		{"no UDP", fmt.Errorf("wisp: server does not support UDP streams: %w", errors.ErrUnsupported), SocketErrorUnknown, ErrNotSupported, ""},
		{"deadline", os.ErrDeadlineExceeded, SocketErrorConnectionTimedOut, nil, ""},
		{"closed", net.ErrClosed, SocketErrorOperationAborted, nil, ""},
	}
	for _, tt := range tests {
		mapped := relayErr(tt.in)
		if !errors.Is(mapped, tt.in) {
			t.Errorf("%s: the cause %v is gone from the chain of %v", tt.name, tt.in, mapped)
		}
		if again := relayErr(mapped); again != mapped {
			t.Errorf("%s: mapping twice changed %v into %v", tt.name, mapped, again)
		}
		err := wrapErr("connect", "example.com:80", mapped)
		var se *SocketError
		if !errors.As(err, &se) || se.Status != tt.status || GetStatus(err) != tt.status {
			t.Errorf("%s: %v has status %v, want %v", tt.name, err, GetStatus(err), tt.status)
		}
		for _, k := range []error{ErrAccessDenied, ErrNotSupported, ErrInvalidArgument} {
			if got, want := errors.Is(err, k), k == tt.kind; got != want {
				t.Errorf("%s: errors.Is(%v, %v) = %v, want %v", tt.name, err, k, got, want)
			}
		}
		if tt.text != "" && se != nil && se.Err.Error() != tt.text {
			t.Errorf("%s: message %q, want %q", tt.name, se.Err.Error(), tt.text)
		}
	}
	if relayErr(nil) != nil || relayErr(io.EOF) != io.EOF {
		t.Error("nil and io.EOF must pass unchanged")
	}
}
