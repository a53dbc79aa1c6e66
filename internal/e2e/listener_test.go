//go:build !js

package e2e

import (
	"testing"

	"github.com/sockshim/sockshim/internal/testutil"
)

// TestWasmListenerChromium runs the browser-side listener test
// (wasmtest.TestListenerFromBrowser) in headless Chromium against an
// in-process relay with the dev config (loopback listeners on 1024-65535).
func TestWasmListenerChromium(t *testing.T) {
	t.Parallel()
	_, err := chromiumPath()
	require(t, "SOCKSHIM_REQUIRE_BROWSER", err)
	url, _ := testutil.Relay(t, nil)
	wasmTest(t, buildRunner(t), map[string]string{"SOCKSHIM_RELAY_URL": url}, "^TestListenerFromBrowser$")
}
