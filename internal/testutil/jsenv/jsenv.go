//go:build js

// Package jsenv is for the browser-side tests (GOOS=js) that internal/e2e
// runs in Node and headless Chromium: it reads the servers the native
// harness started from SOCKSHIM_* variables.
package jsenv

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sockshim/sockshim/shim"
)

// Env returns a variable the harness must set; missing means the test was
// started by hand, which is a failure, not a skip.
func Env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run these tests through internal/e2e (make test)", name)
	}
	return v
}

// Context is a context that ends with the test or after 30 s.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// HostPort splits "host:port" into a HostName and a service name.
func HostPort(t testing.TB, addr string) (*shim.HostName, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	hn, err := shim.NewHostName(h)
	if err != nil {
		t.Fatal(err)
	}
	return hn, p
}

// Addr is HostPort of the address in the variable name.
func Addr(t testing.TB, name string) (*shim.HostName, string) {
	t.Helper()
	return HostPort(t, Env(t, name))
}
