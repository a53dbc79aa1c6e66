//go:build !js

package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/shim"
)

// TestRelayProcessRelayTLS: the relay binary does relay TLS with the
// system's roots, which here are the test CA's through SSL_CERT_FILE (as
// an operator's private CA would be), and refuses a certificate from any
// other CA.
func TestRelayProcessRelayTLS(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "e2e relay TLS CA")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	echo := func(c *tls.Conn) { io.Copy(c, c) }
	good := testutil.TLSServer(t, ca.ServerCert(t, "localhost"), nil, echo)
	untrusted := testutil.TLSServer(t, testutil.NewCA(t, "not the relay's CA").ServerCert(t, "localhost"), nil, echo)
	r := startRelayEnv(t, []string{"SSL_CERT_FILE=" + caFile, "SSL_CERT_DIR=" + t.TempDir()}, "-dev")
	tr := shim.RelayTransport(r.WispURL(), nil)
	localhost, _ := shim.NewHostName("localhost")

	s := shim.NewStreamSocket(tr)
	if err := s.ConnectWithProtectionLevel(ctxT(t, 20*time.Second), localhost, strconv.Itoa(good.Port), shim.ProtectionLevelRelayTls); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := make([]byte, 1<<20)
	rand.Read(want)
	go s.Write(want)
	h := sha256.New()
	if _, err := io.CopyN(h, s, int64(len(want))); err != nil {
		t.Fatal(err)
	}
	if got, exp := h.Sum(nil), sha256.Sum256(want); !bytes.Equal(got, exp[:]) {
		t.Fatalf("relay TLS echo: sha256 %x, want %x", got, exp)
	}

	bad := shim.NewStreamSocket(tr)
	err := bad.ConnectWithProtectionLevel(ctxT(t, 20*time.Second), localhost, strconv.Itoa(untrusted.Port), shim.ProtectionLevelRelayTls)
	if err == nil {
		bad.Close()
		t.Fatal("relay TLS to a certificate the relay does not trust succeeded")
	}
	if st := shim.GetStatus(err); st != shim.SocketErrorCertificateIsInvalid {
		t.Fatalf("untrusted certificate: %v, status %v, want CertificateIsInvalid", err, st)
	}
}
