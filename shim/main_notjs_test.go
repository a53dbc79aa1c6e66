//go:build !js

package shim_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// session, stream, listener and server a test opens must be released.
// runtime.handleEvent is the js/wasm runtime's own event goroutine.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("runtime.handleEvent"))
}
