//go:build js

// Package browser is a wasm app in a real Chromium page talking through the
// edge relay in workerd. test/edge (TestEdge/Chromium) runs it with the
// Worker and the servers it needs, passed as SOCKSHIM_* variables.
package browser

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/shim"
)

func env(t *testing.T, k string) string {
	v := os.Getenv(k)
	if v == "" {
		t.Fatalf("%s is not set (run by test/edge)", k)
	}
	return v
}

func connect(t *testing.T, s *shim.StreamSocket, addr string, level shim.SocketProtectionLevel) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	host, err := shim.NewHostName(h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.ConnectWithProtectionLevel(ctx, host, p, level); err != nil {
		t.Fatal(err)
	}
}

func echo(t *testing.T, s io.ReadWriter, size int) {
	t.Helper()
	want := make([]byte, size)
	rand.Read(want)
	errc := make(chan error, 1)
	go func() { _, err := s.Write(want); errc <- err }()
	h := sha256.New()
	if _, err := io.CopyN(h, s, int64(size)); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if exp := sha256.Sum256(want); !bytes.Equal(h.Sum(nil), exp[:]) {
		t.Fatal("echo differs (sha256)")
	}
}

func TestEdgeFromPage(t *testing.T) {
	wispURL := env(t, "SOCKSHIM_EDGE_WISP")

	s := shim.NewStreamSocket(shim.RelayTransport(wispURL, nil))
	connect(t, s, env(t, "SOCKSHIM_ECHO_ADDR"), shim.ProtectionLevelPlainSocket)
	echo(t, s, 2<<20)
	s.Close()

	tlsSock := shim.NewStreamSocket(shim.RelayTransport(wispURL, nil))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(env(t, "SOCKSHIM_TLS_CA_PEM")))
	tlsSock.Control().SetTrustedRoots(pool)
	connect(t, tlsSock, env(t, "SOCKSHIM_TLS_ADDR"), shim.ProtectionLevelSsl)
	echo(t, tlsSock, 256<<10)
	tlsSock.Close()

	d := shim.NewDatagramSocket(shim.RelayTransport(wispURL, nil))
	h, _ := shim.NewHostName("127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := d.Connect(ctx, h, "9")
	if err == nil {
		d.Close()
		t.Fatal("UDP through the edge relay succeeded in the browser")
	}
	if !errors.Is(err, shim.ErrNotSupported) || !strings.Contains(err.Error(), "edge relay") {
		t.Fatalf("UDP through the edge relay: %v, want ErrNotSupported naming it", err)
	}
}
