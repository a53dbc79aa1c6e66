//go:build !linux

package policy

import (
	"os"
	"testing"
)

// inLoopbackNetns: network namespaces exist only on Linux.
func inLoopbackNetns(t *testing.T) bool {
	t.Helper()
	const msg = "needs a Linux network namespace with only loopback"
	if os.Getenv("SOCKSHIM_REQUIRE_NETNS") != "" {
		t.Fatal(msg + "; SOCKSHIM_REQUIRE_NETNS is set")
	}
	t.Skip(msg)
	return false
}
