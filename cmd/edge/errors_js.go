//go:build js

package main

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/sockshim/sockshim/internal/policy"
)

// errCloudflareRefused is a destination the Workers runtime itself refuses
// (private and reserved ranges, Cloudflare's own addresses, port 25, the
// Worker's own zone); the relay closes such a stream with 0x48 (blocked), as
// for its own policy.
var errCloudflareRefused = fmt.Errorf("refused by the Workers runtime: %w", policy.ErrDenied)

// socketMatches map the runtime's connect() and stream error messages (lower
// case) to the errors relay.reasonFor turns into CLOSE reasons; the first
// match wins. The messages are workerd's (checked in test/edge with
// wrangler 4.86's workerd) and Cloudflare's documented ones.
var socketMatches = []struct {
	substr string
	err    error
}{
	// workerd's message for a connect that failed, refused or not; a
	// refusal is by far the most common cause (and the one a client can
	// act on), so it becomes ConnectionRefused.
	{"proxy request failed, cannot connect to the specified address", syscall.ECONNREFUSED},
	{"connection refused", syscall.ECONNREFUSED},
	{"econnrefused", syscall.ECONNREFUSED},
	{"connection reset", syscall.ECONNRESET},
	{"econnreset", syscall.ECONNRESET},
	{"network is unreachable", syscall.ENETUNREACH},
	{"no route to host", syscall.EHOSTUNREACH},
	{"host is unreachable", syscall.EHOSTUNREACH},
	{"timed out", syscall.ETIMEDOUT},
	{"dns", policy.ErrHostNotFound},
	{"could not be resolved", policy.ErrHostNotFound},
	{"name not resolved", policy.ErrHostNotFound},
	{"not found", policy.ErrHostNotFound},
	{"port 25", errCloudflareRefused},
	{"not allowed", errCloudflareRefused},
	{"not permitted", errCloudflareRefused},
	{"tcp loop detected", errCloudflareRefused},
	{"prohibited", errCloudflareRefused},
	{"blocked", errCloudflareRefused},
}

// mapSocketError maps an error of connect(), opened, read or write where it
// enters Go, keeping the runtime's message.
func mapSocketError(err error) error {
	var je *jsError
	if !errors.As(err, &je) {
		return err
	}
	msg := strings.ToLower(je.Message)
	for _, m := range socketMatches {
		if strings.Contains(msg, m.substr) {
			return fmt.Errorf("%w (%s)", m.err, je)
		}
	}
	return err
}
