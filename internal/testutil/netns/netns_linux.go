//go:build linux

// Package netns runs a test's body in a network namespace of its own. It
// imports nothing of sockshim's, so every package's tests can use it.
package netns

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// netnsChildEnv names the test that a re-executed test binary runs inside a
// fresh network namespace.
const netnsChildEnv = "SOCKSHIM_NETNS_CHILD"

// Run makes the calling top-level test run its body in a new, empty
// network namespace (CLONE_NEWNET: only a loopback interface, down), which
// the body then sets up, so nothing it sends can leave this host.
//
// In the test process it re-executes the test binary for just this test in
// the namespace, reports the child's result, and returns false: the caller
// returns at once. In the child it returns true: the caller runs the body.
// Without the privilege to create a namespace the test is skipped, or fails
// if SOCKSHIM_REQUIRE_NETNS is set (make test sets it).
func Run(t *testing.T, timeout time.Duration) bool {
	t.Helper()
	name := t.Name()
	if os.Getenv(netnsChildEnv) == name {
		return true
	}
	if strings.Contains(name, "/") {
		t.Fatal("Run must be called from a top-level test")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(name)+"$", "-test.v", "-test.count=1", "-test.timeout="+timeout.String())
	cmd.Env = append(os.Environ(), netnsChildEnv+"="+name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		msg := "cannot create a network namespace (needs root or CAP_SYS_ADMIN, as for `unshare -n`): " + err.Error()
		if os.Getenv("SOCKSHIM_REQUIRE_NETNS") != "" {
			t.Fatal(msg + "; SOCKSHIM_REQUIRE_NETNS is set")
		}
		t.Skip(msg)
	}
	err := cmd.Wait()
	if err != nil || !strings.Contains(out.String(), "--- PASS: "+name) {
		t.Fatalf("%s in a new network namespace: %v\n%s", name, err, out.String())
	}
	if testing.Verbose() {
		t.Logf("ran in a new network namespace:\n%s", out.String())
	}
	return false
}

// IP runs the ip(8) command (Debian's iproute2) with args, failing the test
// on error.
func IP(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
