//go:build linux

package policy

import (
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/sockshim/sockshim/internal/testutil/netns"
)

// inLoopbackNetns makes the calling top-level test run its body in a new
// network namespace that has only a loopback interface (what `unshare -n`
// gives), so that a policy bug can never send a packet beyond this host.
// It returns false in the test process (the caller returns at once) and
// true in the namespace, after checking the isolation and bringing lo up.
func inLoopbackNetns(t *testing.T) bool {
	t.Helper()
	if !netns.Run(t, 60*time.Second) {
		return false
	}
	isolateLoopback(t)
	return true
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
