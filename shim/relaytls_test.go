//go:build !js

package shim_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// TestRelayTLS: ProtectionLevelRelayTls has the relay (a real in-process
// native relay trusting the test CA) do TLS to the destination; it reports
// itself as such and fails clearly wherever it cannot apply.
func TestRelayTLS(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "shim relay TLS CA")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.RootPEM())
	echo := func(c *tls.Conn) { io.Copy(c, c) }
	good := testutil.TLSServer(t, ca.ServerCert(t, "localhost"), nil, echo)
	untrusted := testutil.TLSServer(t, testutil.NewCA(t, "other CA").ServerCert(t, "localhost"), nil, echo)
	closed := testutil.ClosedPort(t)
	url, _ := testutil.Relay(t, &relay.Options{RelayTLSRoots: roots})
	tr := shim.RelayTransport(url, nil)
	localhost, _ := shim.NewHostName("localhost")
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		t.Cleanup(cancel)
		return c
	}

	t.Run("echo", func(t *testing.T) {
		t.Parallel()
		s := shim.NewStreamSocket(tr)
		if err := s.ConnectWithProtectionLevel(ctx(t), localhost, strconv.Itoa(good.Port), shim.ProtectionLevelRelayTls); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		info := s.Information()
		if info.ProtectionLevel != shim.ProtectionLevelRelayTls || info.ServerCertificate != nil {
			t.Errorf("Information: level %v, certificate %v; want RelayTls and none", info.ProtectionLevel, info.ServerCertificate)
		}
		want := make([]byte, 1<<20)
		rand.Read(want)
		go s.Write(want)
		h := sha256.New()
		if _, err := io.CopyN(h, s, int64(len(want))); err != nil {
			t.Fatal(err)
		}
		if got, exp := h.Sum(nil), sha256.Sum256(want); !bytes.Equal(got, exp[:]) {
			t.Fatalf("sha256 %x, want %x", got, exp)
		}
	})

	t.Run("Dialer", func(t *testing.T) {
		t.Parallel()
		d := &shim.Dialer{Transport: tr, ProtectionLevel: shim.ProtectionLevelRelayTls}
		c, err := d.DialContext(ctx(t), "tcp", "localhost:"+strconv.Itoa(good.Port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("ping"))
		got := make([]byte, 4)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
			t.Fatalf("echo %q, %v", got, err)
		}
	})

	for _, tc := range []struct {
		name   string
		port   int
		status shim.SocketErrorStatus
	}{
		{"untrusted certificate", untrusted.Port, shim.SocketErrorCertificateIsInvalid},
		{"refused", closed.Port, shim.SocketErrorConnectionRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := shim.NewStreamSocket(tr)
			err := s.ConnectWithProtectionLevel(ctx(t), localhost, strconv.Itoa(tc.port), shim.ProtectionLevelRelayTls)
			if err == nil {
				s.Close()
				t.Fatal("connected")
			}
			if st := shim.GetStatus(err); st != tc.status {
				t.Fatalf("%v: status %v, want %v", err, st, tc.status)
			}
		})
	}

	t.Run("not supported", func(t *testing.T) {
		t.Parallel()
		port := strconv.Itoa(good.Port)
		cases := map[string]func() error{
			"DirectTransport": func() error {
				return shim.NewStreamSocket(shim.DirectTransport(nil)).ConnectWithProtectionLevel(ctx(t), localhost, port, shim.ProtectionLevelRelayTls)
			},
			"a relay without relay TLS (Wisp v1)": func() error {
				return shim.NewStreamSocket(shim.RelayTransport(url, &shim.RelayOptions{WispV1: true})).ConnectWithProtectionLevel(ctx(t), localhost, port, shim.ProtectionLevelRelayTls)
			},
			"TrustedRoots set": func() error {
				s := shim.NewStreamSocket(tr)
				s.Control().SetTrustedRoots(roots)
				return s.ConnectWithProtectionLevel(ctx(t), localhost, port, shim.ProtectionLevelRelayTls)
			},
			"UpgradeToSsl": func() error {
				s := shim.NewStreamSocket(tr)
				if err := s.Connect(ctx(t), localhost, port); err != nil {
					return err
				}
				defer s.Close()
				return s.UpgradeToSsl(ctx(t), shim.ProtectionLevelRelayTls, localhost)
			},
		}
		for name, f := range cases {
			if err := f(); !errors.Is(err, shim.ErrNotSupported) {
				t.Errorf("%s: %v, want ErrNotSupported", name, err)
			}
		}
	})

	if s := shim.ProtectionLevelRelayTls.String(); s != "RelayTls" {
		t.Errorf("String() = %q", s)
	}
}

func ExampleStreamSocket_ConnectWithProtectionLevel_relayTls() {
	// A local HTTPS server stands in for a real one, and an in-process
	// relay that trusts its private CA for the relay an app runs (a real
	// relay uses the system's roots).
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	defer hs.Close()
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())
	srv := relay.New(&relay.Options{Config: relay.DevConfig(), RelayTLSRoots: roots, Logger: slog.New(slog.DiscardHandler)})
	rs := httptest.NewServer(srv.Handler())
	defer rs.Close()
	defer srv.Shutdown(context.Background())

	// The relay does the TLS (and sees the plaintext): the socket reads
	// and writes HTTP as is.
	tr := shim.RelayTransport("ws"+strings.TrimPrefix(rs.URL, "http")+"/wisp/", nil)
	host, _ := shim.NewHostName("127.0.0.1")
	s := shim.NewStreamSocket(tr)
	defer s.Close()
	port := hs.URL[strings.LastIndex(hs.URL, ":")+1:]
	if err := s.ConnectWithProtectionLevel(context.Background(), host, port, shim.ProtectionLevelRelayTls); err != nil {
		log.Fatal(shim.GetStatus(err), err) // e.g. CertificateIsInvalid: the relay refused the certificate
	}
	io.WriteString(s, "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
	status, _ := bufio.NewReader(s).ReadString('\n')
	fmt.Print(s.Information().ProtectionLevel, " ", status)
	// Output: RelayTls HTTP/1.0 200 OK
}
