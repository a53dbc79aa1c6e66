//go:build !js

package shim_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/shim"
)

// TestListenerCloseRefusesAtOnce: when StreamSocketListener.Close returns,
// the port is free: an outside dial right after it is refused, every time,
// through the relay as directly.
func TestListenerCloseRefusesAtOnce(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	for name, tr := range map[string]shim.Transport{
		"relay":  shim.RelayTransport(url, nil),
		"direct": shim.DirectTransport(nil),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for i := 0; i < 50; i++ {
				l := shim.NewStreamSocketListener(tr)
				if err := l.BindEndpoint(ctxT(t), host(t, "127.0.0.1"), "0"); err != nil {
					t.Fatal(err)
				}
				addr := l.Addr().String()
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err == nil {
					c.Close()
					t.Fatalf("try %d: a dial to %s right after Close connected", i, addr)
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Fatalf("try %d: dial after Close: %v, want connection refused", i, err)
				}
			}
		})
	}
}
