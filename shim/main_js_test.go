//go:build js

package shim_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them, as
// natively: the TestJS* tests (run by internal/e2e) close their
// RelayTransports, which ends their sessions' loops. runtime.handleEvent
// is the js/wasm runtime's own event goroutine.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("runtime.handleEvent"))
}
