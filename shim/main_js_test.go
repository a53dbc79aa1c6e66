//go:build js

package shim_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them, as
// natively, with one difference: the TestJS* tests (run by internal/e2e)
// talk to the harness's relay, which outlives this test binary, and a
// RelayTransport keeps its session for the life of the page (it has no
// Close), so those sessions' loops are still running at the end.
// runtime.handleEvent is the js/wasm runtime's own event goroutine.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("runtime.handleEvent"),
		goleak.IgnoreAnyFunction("github.com/sockshim/sockshim/internal/wispclient.(*Session).readLoop"),
		goleak.IgnoreAnyFunction("github.com/sockshim/sockshim/internal/wispclient.(*Session).writeLoop"),
		goleak.IgnoreAnyFunction("github.com/sockshim/sockshim/internal/wispclient.(*Session).keepalive"),
		// and, for resumable sessions, their resume layer's
		goleak.IgnoreAnyFunction("github.com/sockshim/sockshim/internal/wispclient.(*Session).reconnectLoop"),
		goleak.IgnoreAnyFunction("github.com/sockshim/sockshim/internal/resume.(*Conn).acker"),
		goleak.IgnoreAnyFunction("github.com/sockshim/sockshim/internal/resume.(*Conn).watchdog"),
	)
}
