//go:build !js

package shim_test

import (
	"crypto/tls"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/shim"
)

// TestTLSCloseWrite: CloseWrite on a TLS StreamSocket sends close_notify
// and the TCP FIN, through the relay as directly, 100 times out of 100
// (crypto/tls sets the write deadline to now after close_notify; the FIN
// must not depend on it). The server reads everything, then EOF, and its
// answer still arrives on the half-closed socket.
func TestTLSCloseWrite(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "sockshim test")
	a := testutil.TLSServer(t, ca.ServerCert(t), nil, func(c *tls.Conn) {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		b, err := io.ReadAll(c) // close_notify reads as EOF
		if err != nil {
			return
		}
		io.WriteString(c, "got "+string(b))
		c.NetConn().(interface{ CloseWrite() error }).CloseWrite() // the TCP FIN follows close_notify's EOF
	})
	port := strconv.Itoa(a.Port)
	for name, tr := range transports(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for i := 0; i < 100; i++ {
				s := shim.NewStreamSocket(tr)
				s.Control().SetTrustedRoots(ca.Pool)
				if err := s.ConnectWithProtectionLevel(ctxT(t), host(t, "127.0.0.1"), port, shim.ProtectionLevelSsl); err != nil {
					t.Fatal(err)
				}
				if _, err := io.WriteString(s, "hello"); err != nil {
					t.Fatal(err)
				}
				if err := s.CloseWrite(); err != nil {
					s.Close()
					t.Fatalf("try %d: CloseWrite: %v", i, err)
				}
				s.SetReadDeadline(time.Now().Add(20 * time.Second))
				got, err := io.ReadAll(s)
				s.Close()
				if err != nil || string(got) != "got hello" {
					t.Fatalf("try %d: read %q, %v; want the server's answer after our FIN", i, got, err)
				}
			}
		})
	}
}
