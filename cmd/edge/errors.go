package main

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/sockshim/sockshim/internal/policy"
)

// The Workers runtime reports a failed connect(), and a socket's later
// failures, only as an exception with a message. mapMessage turns the
// message into the error relay.reasonFor makes a CLOSE reason of, where it
// enters Go (errors_js.go); docs/SECURITY.md has the same table, and
// errors_test.go checks the two agree and what a client then sees.

// errCloudflareRefused is a destination the Workers runtime itself refuses
// (Cloudflare's own addresses, port 25, the Worker itself); the relay closes
// such a stream with 0x48 (blocked), as for its own policy.
var errCloudflareRefused = fmt.Errorf("refused by the Workers runtime: %w", policy.ErrDenied)

// errInvalidAddress is an address connect() itself rejects (with a
// TypeError) before trying it; the policy's own parse is stricter, so only
// a bug lets one through.
var errInvalidAddress = fmt.Errorf("address refused by connect(): %w", policy.ErrInvalid)

// socketMatches map the runtime's messages (lower case) to errors; the first
// match wins. The first three are what workerd says (checked with wrangler
// 4.86's workerd, test/edge); "tcp loop detected" and the port 25 refusal
// are Cloudflare's production messages; the others are the errno-style and
// DNS wordings a runtime may use, mapped as the native relay maps errnos.
var socketMatches = []struct {
	substr string
	err    error
}{
	// workerd's one message for every connect that fails: nothing
	// listening, a name that does not resolve, TLS (secureTransport "on")
	// that fails, and in production also Cloudflare's refused ranges. A
	// refusal is by far the most common cause (and the one a client can
	// act on), so it becomes ConnectionRefused; on a relay-TLS stream
	// dialSocket tells a failed TLS handshake apart first.
	{"proxy request failed, cannot connect to the specified address", syscall.ECONNREFUSED},
	// connect()'s TypeErrors: "Specified address is empty string, contains
	// unsupported characters or is too long.", "... could not be parsed.",
	// "... is missing hostname."
	{"specified address", errInvalidAddress},
	// A socket whose peer went away under it (a TLS session cut, a
	// connection lost mid-stream).
	{"network connection lost", syscall.ECONNRESET},
	{"tcp loop detected", errCloudflareRefused},
	{"port 25", errCloudflareRefused},
	{"prohibited", errCloudflareRefused},
	{"not allowed", errCloudflareRefused},
	{"not permitted", errCloudflareRefused},
	{"blocked", errCloudflareRefused},
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
}

// mapMessage is the error a runtime message stands for, wrapping cause (the
// runtime's error, kept for the logs); cause itself when nothing matches
// (the relay then closes with 0x03, network error).
func mapMessage(msg string, cause error) error {
	msg = strings.ToLower(msg)
	for _, m := range socketMatches {
		if strings.Contains(msg, m.substr) {
			return fmt.Errorf("%w (%v)", m.err, cause)
		}
	}
	return cause
}
