//go:build !js

package shim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/udpopt"
)

// TestDirectErrorsMapAtTheEdge: the local policy's decisions leave the
// direct transport as the statuses and sentinels sockets report, with the
// policy's error still in the chain.
func TestDirectErrorsMapAtTheEdge(t *testing.T) {
	t.Parallel()
	denied := &policy.Error{Op: policy.OpConnect, Reason: policy.ReasonLoopback, Host: "127.0.0.1", Port: 80}
	tests := []struct {
		name   string
		in     error
		status SocketErrorStatus
		kind   error
		text   string
	}{
		{"denied", denied, SocketErrorUnknown, ErrAccessDenied,
			"access denied by network capability policy (" + policy.ReasonLoopback.String() + ")"},
		{"resolve timeout", &policy.Error{Op: policy.OpConnect, Reason: policy.ReasonResolveTimeout, Host: "slow.example", Port: 80},
			SocketErrorConnectionTimedOut, ErrAccessDenied, ""},
		{"host not found", &policy.Error{Op: policy.OpConnect, Reason: policy.ReasonHostNotFound, Host: "nx.example", Port: 80},
			SocketErrorHostNotFound, nil, ""},
		{"option missing", fmt.Errorf("don't fragment: %w", udpopt.ErrNotSupported), SocketErrorUnknown, ErrNotSupported, ""},
		{"os error", &net.OpError{Op: "dial", Err: errors.New("boom")}, SocketErrorUnknown, nil, ""},
	}
	for _, tt := range tests {
		mapped := directErr(tt.in)
		if !errors.Is(mapped, tt.in) {
			t.Errorf("%s: the cause is gone from the chain of %v", tt.name, mapped)
		}
		err := wrapErr("connect", "h:80", mapped)
		if got := GetStatus(err); got != tt.status {
			t.Errorf("%s: %v has status %v, want %v", tt.name, err, got, tt.status)
		}
		for _, k := range []error{ErrAccessDenied, ErrNotSupported, ErrInvalidArgument} {
			if got, want := errors.Is(err, k), k == tt.kind; got != want {
				t.Errorf("%s: errors.Is(%v, %v) = %v, want %v", tt.name, err, k, got, want)
			}
		}
		var se *SocketError
		if tt.text != "" && errors.As(err, &se) && se.Err.Error() != tt.text {
			t.Errorf("%s: message %q, want %q", tt.name, se.Err.Error(), tt.text)
		}
	}
}

// TestDirectTransportDeniesThroughThePolicy: the real policy, on a real
// dial, reaches the caller as ErrAccessDenied with the policy's error in
// the chain.
func TestDirectTransportDeniesThroughThePolicy(t *testing.T) {
	t.Parallel()
	host, _ := NewHostName("127.0.0.1")
	s := NewStreamSocket(DirectTransport(&DirectOptions{DenyLoopback: true}))
	err := s.Connect(context.Background(), host, "9")
	var pe *policy.Error
	if !errors.Is(err, ErrAccessDenied) || !errors.As(err, &pe) || pe.Reason != policy.ReasonLoopback {
		t.Fatalf("Connect to loopback without the exemption: %v, want ErrAccessDenied over a loopback policy.Error", err)
	}
}
