//go:build !js

package e2e

import (
	"testing"

	"github.com/sockshim/sockshim/internal/testutil"
)

// TestWasmListenerBrowser runs the browser-side listener test
// (wasmtest.TestListenerFromBrowser) in headless Chromium and Firefox against
// an in-process relay with the dev config (loopback listeners on 1024-65535).
func TestWasmListenerBrowser(t *testing.T) {
	t.Parallel()
	eachBrowser(t, func(t *testing.T, browser, execCmd string) {
		url, _ := testutil.Relay(t, nil)
		wasmTest(t, execCmd, map[string]string{"SOCKSHIM_RELAY_URL": url}, "^TestListenerFromBrowser$")
	})
}
