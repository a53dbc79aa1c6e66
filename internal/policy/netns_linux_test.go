//go:build linux

package policy

import (
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// netnsChildEnv names the test that a re-executed test binary runs inside a
// fresh network namespace.
const netnsChildEnv = "SOCKSHIM_POLICY_NETNS_CHILD"

// inLoopbackNetns makes the calling top-level test run its body in a new
// network namespace that has only a loopback interface (what `unshare -n`
// gives), so that a policy bug can never send a packet beyond this host.
//
// In the test process it re-executes the test binary for just this test with
// CLONE_NEWNET, reports the child's result, and returns false: the caller
// returns at once. In the child it checks the isolation, brings lo up and
// returns true: the caller runs the body. Without the privilege to create a
// namespace the test is skipped, or fails if SOCKSHIM_REQUIRE_NETNS is set
// (make test sets it).
func inLoopbackNetns(t *testing.T) bool {
	t.Helper()
	name := t.Name()
	if os.Getenv(netnsChildEnv) == name {
		isolateLoopback(t)
		return true
	}
	if strings.Contains(name, "/") {
		t.Fatal("inLoopbackNetns must be called from a top-level test")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(name)+"$", "-test.v", "-test.count=1", "-test.timeout=60s")
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
		t.Fatalf("%s in a loopback-only network namespace: %v\n%s", name, err, out.String())
	}
	if testing.Verbose() {
		t.Logf("ran in a loopback-only network namespace:\n%s", out.String())
	}
	return false
}

// isolateLoopback fails the test unless the only interface is loopback, then
// brings it up (a new namespace starts with lo down).
func isolateLoopback(t *testing.T) {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Flags&net.FlagLoopback == 0 {
		t.Fatalf("refusing to run: not in a loopback-only network namespace, interfaces: %v", ifs)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	var ifr [40]byte // struct ifreq: name[16], then ifr_flags (short)
	copy(ifr[:], ifs[0].Name)
	ioctl := func(req uintptr) {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
			t.Fatalf("ioctl %#x on %s: %v", req, ifs[0].Name, errno)
		}
	}
	ioctl(syscall.SIOCGIFFLAGS)
	*(*uint16)(unsafe.Pointer(&ifr[16])) |= syscall.IFF_UP
	ioctl(syscall.SIOCSIFFLAGS)
}
