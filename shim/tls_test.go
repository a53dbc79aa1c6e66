//go:build !js

package shim_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/syncbuf"
	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/shim"
)

// transports returns a fresh relay transport and the direct one.
func transports(t *testing.T) map[string]shim.Transport {
	url, _ := testutil.Relay(t, nil)
	return map[string]shim.Transport{"relay": shim.RelayTransport(url, nil), "direct": shim.DirectTransport(nil)}
}

func tlsEcho(t *testing.T, cert tls.Certificate, clientCAs *x509.CertPool) string {
	a := testutil.TLSServer(t, cert, clientCAs, func(c *tls.Conn) { io.Copy(c, c) })
	return strconv.Itoa(a.Port)
}

func echoOnce(t *testing.T, c io.ReadWriter, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
}

func TestConnectTLS(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "sockshim test")
	port := tlsEcho(t, ca.ServerCert(t), nil)
	for name, tr := range transports(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				level, want shim.SocketProtectionLevel
			}{
				{shim.ProtectionLevelSsl, shim.ProtectionLevelSsl}, // TLS 1.3
				{shim.ProtectionLevelTls12, shim.ProtectionLevelTls12},
				{shim.ProtectionLevelTls10, shim.ProtectionLevelTls10},
				{shim.ProtectionLevelPlainSocket, shim.ProtectionLevelPlainSocket},
			} {
				t.Run(tc.level.String(), func(t *testing.T) {
					s := shim.NewStreamSocket(tr)
					defer s.Close()
					s.Control().SetTrustedRoots(ca.Pool)
					if err := s.ConnectWithProtectionLevel(ctxT(t), host(t, "127.0.0.1"), port, tc.level); err != nil {
						t.Fatal(err)
					}
					info := s.Information()
					if info.ProtectionLevel != tc.want {
						t.Errorf("ProtectionLevel = %v, want %v", info.ProtectionLevel, tc.want)
					}
					if tc.level == shim.ProtectionLevelPlainSocket {
						return // the server speaks TLS; nothing more to check
					}
					echoOnce(t, s, "hello over tls")
					if info.ServerCertificate == nil || !slices.Equal(info.ServerCertificate.IPAddresses[0], net.IPv4(127, 0, 0, 1).To4()) {
						t.Errorf("ServerCertificate = %v", info.ServerCertificate)
					}
					if len(info.ServerIntermediateCertificates) != 1 || !info.ServerIntermediateCertificates[0].Equal(ca.Intermediate) {
						t.Errorf("ServerIntermediateCertificates = %v", info.ServerIntermediateCertificates)
					}
					if len(info.ServerCertificateErrors) != 0 || info.ServerCertificateErrorSeverity != shim.SslErrorSeverityNone {
						t.Errorf("errors = %v (%v), want none", info.ServerCertificateErrors, info.ServerCertificateErrorSeverity)
					}
				})
			}
		})
	}
}

func TestConnectUnsupportedProtection(t *testing.T) {
	t.Parallel()
	for _, l := range []shim.SocketProtectionLevel{
		shim.ProtectionLevelSslAllowNullEncryption, shim.ProtectionLevelSsl3AllowWeakEncryption,
		shim.ProtectionLevelBluetoothEncryptionAllowNullAuthentication, shim.ProtectionLevelBluetoothEncryptionWithAuthentication,
	} {
		err := new(shim.StreamSocket).ConnectWithProtectionLevel(ctxT(t), host(t, "127.0.0.1"), "1", l)
		if !errors.Is(err, shim.ErrNotSupported) {
			t.Errorf("%v: err = %v, want ErrNotSupported", l, err)
		}
	}
	if err := new(shim.StreamSocket).ConnectWithProtectionLevel(ctxT(t), host(t, "127.0.0.1"), "1", shim.ProtectionLevelUnspecified); !errors.Is(err, shim.ErrInvalidArgument) {
		t.Errorf("Unspecified: err = %v, want ErrInvalidArgument", err)
	}
}

func TestCertificateErrors(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "trusted")
	other := testutil.NewCA(t, "untrusted")
	expired := tlsEcho(t, ca.ExpiredCert(t), nil)
	wrongHost := tlsEcho(t, ca.ServerCert(t, "other.example"), nil)
	untrusted := tlsEcho(t, other.ServerCert(t), nil)
	clientOnly := tlsEcho(t, ca.ClientCert(t, "127.0.0.1"), nil)
	expiredWrongHost := tlsEcho(t, ca.ExpiredCert(t, "other.example"), nil)
	C := func(r ...shim.ChainValidationResult) []shim.ChainValidationResult { return r }
	tests := []struct {
		name      string
		port      string
		ignore    []shim.ChainValidationResult
		found     []shim.ChainValidationResult
		want      shim.SocketErrorStatus // SocketErrorUnknown: success
		wantFatal bool
	}{
		{"expired", expired, nil, C(shim.ChainValidationExpired), shim.SocketErrorCertificateExpired, false},
		{"wrong host", wrongHost, nil, C(shim.ChainValidationInvalidName), shim.SocketErrorCertificateCommonNameIsIncorrect, false},
		{"untrusted", untrusted, nil, C(shim.ChainValidationUntrusted), shim.SocketErrorCertificateUntrustedRoot, false},
		{"wrong usage", clientOnly, nil, C(shim.ChainValidationWrongUsage), shim.SocketErrorCertificateWrongUsage, false},
		{"expired ignored", expired, C(shim.ChainValidationExpired), C(shim.ChainValidationExpired), shim.SocketErrorUnknown, false},
		{"untrusted ignored", untrusted, C(shim.ChainValidationUntrusted), C(shim.ChainValidationUntrusted), shim.SocketErrorUnknown, false},
		{"wrong host ignored", wrongHost, C(shim.ChainValidationInvalidName), C(shim.ChainValidationInvalidName), shim.SocketErrorUnknown, false},
		{"only listed ignored", untrusted, C(shim.ChainValidationExpired, shim.ChainValidationInvalidName), C(shim.ChainValidationUntrusted), shim.SocketErrorCertificateUntrustedRoot, false},
		{"two problems, one ignored", expiredWrongHost, C(shim.ChainValidationExpired), C(shim.ChainValidationExpired, shim.ChainValidationInvalidName), shim.SocketErrorCertificateCommonNameIsIncorrect, false},
		{"two problems, both ignored", expiredWrongHost, C(shim.ChainValidationInvalidName, shim.ChainValidationExpired), C(shim.ChainValidationExpired, shim.ChainValidationInvalidName), shim.SocketErrorUnknown, false},
	}
	for name, tr := range transports(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s := shim.NewStreamSocket(tr)
					defer s.Close()
					s.Control().SetTrustedRoots(ca.Pool)
					s.Control().SetIgnorableServerCertificateErrors(tc.ignore...)
					err := s.ConnectWithProtectionLevel(ctxT(t), host(t, "127.0.0.1"), tc.port, shim.ProtectionLevelSsl)
					if got := shim.GetStatus(err); got != tc.want || (tc.want == shim.SocketErrorUnknown) != (err == nil) {
						t.Fatalf("err = %v (status %v), want status %v", err, got, tc.want)
					}
					info := s.Information()
					if !slices.Equal(info.ServerCertificateErrors, tc.found) {
						t.Errorf("ServerCertificateErrors = %v, want %v", info.ServerCertificateErrors, tc.found)
					}
					if info.ServerCertificateErrorSeverity != shim.SslErrorSeverityIgnorable {
						t.Errorf("severity = %v, want Ignorable", info.ServerCertificateErrorSeverity)
					}
					if info.ServerCertificate == nil {
						t.Error("no ServerCertificate reported")
					}
					if err != nil {
						var ce *shim.CertificateError
						if !errors.As(err, &ce) {
							t.Errorf("err %v is not a *CertificateError", err)
						}
						if _, rerr := s.Read(make([]byte, 1)); rerr == nil {
							t.Error("Read after a refused handshake succeeded")
						}
						return
					}
					echoOnce(t, s, "tolerated")
				})
			}
		})
	}
	s := new(shim.StreamSocket)
	s.Control().SetIgnorableServerCertificateErrors(shim.ChainValidationInvalidSignature)
	if err := s.ConnectWithProtectionLevel(ctxT(t), host(t, "127.0.0.1"), expired, shim.ProtectionLevelSsl); !errors.Is(err, shim.ErrInvalidArgument) {
		t.Errorf("ignoring a fatal error: err = %v, want ErrInvalidArgument", err)
	}
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "mtls")
	clientCA := testutil.NewCA(t, "clients")
	port := tlsEcho(t, ca.ServerCert(t), clientCA.Pool)
	for name, tr := range transports(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			crt := clientCA.ClientCert(t, "app.example")
			s := shim.NewStreamSocket(tr)
			defer s.Close()
			s.Control().SetTrustedRoots(ca.Pool)
			s.Control().SetClientCertificate(&crt)
			if err := s.ConnectWithProtectionLevel(ctxT(t), host(t, "127.0.0.1"), port, shim.ProtectionLevelSsl); err != nil {
				t.Fatal(err)
			}
			echoOnce(t, s, "mutual")

			// Without a client certificate the server refuses us; with
			// TLS 1.3 the refusal arrives on the first read.
			s2 := shim.NewStreamSocket(tr)
			defer s2.Close()
			s2.Control().SetTrustedRoots(ca.Pool)
			err := s2.ConnectWithProtectionLevel(ctxT(t), host(t, "127.0.0.1"), port, shim.ProtectionLevelSsl)
			if err == nil {
				s2.Write([]byte("x"))
				_, err = s2.Read(make([]byte, 1))
			}
			if err == nil {
				t.Fatal("a server requiring a client certificate accepted none")
			}
		})
	}
}

// starttlsServer answers "STARTTLS\n" with "OK\n" and then speaks TLS
// (echo) on the same connection.
func starttlsServer(t *testing.T, cert tls.Certificate) string {
	a := testutil.Serve(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil || line != "STARTTLS\n" {
			return
		}
		io.WriteString(c, "OK\n")
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		io.Copy(tc, tc)
	})
	return strconv.Itoa(a.Port)
}

func TestUpgradeToSsl(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "starttls")
	port := starttlsServer(t, ca.ServerCert(t))
	wrong := starttlsServer(t, ca.ServerCert(t, "other.example"))
	for name, tr := range transports(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := shim.NewStreamSocket(tr)
			defer s.Close()
			s.Control().SetTrustedRoots(ca.Pool)
			if err := s.Connect(ctxT(t), host(t, "127.0.0.1"), port); err != nil {
				t.Fatal(err)
			}
			if got := s.Information().ProtectionLevel; got != shim.ProtectionLevelPlainSocket {
				t.Errorf("before upgrade: ProtectionLevel = %v", got)
			}
			io.WriteString(s, "STARTTLS\n")
			ok := make([]byte, 3)
			if _, err := io.ReadFull(s, ok); err != nil || string(ok) != "OK\n" {
				t.Fatalf("plain exchange: %q %v", ok, err)
			}
			if err := s.UpgradeToSsl(ctxT(t), shim.ProtectionLevelSsl, host(t, "127.0.0.1")); err != nil {
				t.Fatal(err)
			}
			if got := s.Information().ProtectionLevel; got != shim.ProtectionLevelSsl {
				t.Errorf("after upgrade: ProtectionLevel = %v", got)
			}
			echoOnce(t, s, "secret after starttls")
			if err := s.UpgradeToSsl(ctxT(t), shim.ProtectionLevelSsl, host(t, "127.0.0.1")); err == nil {
				t.Error("a second UpgradeToSsl succeeded")
			}

			s2 := shim.NewStreamSocket(tr)
			defer s2.Close()
			s2.Control().SetTrustedRoots(ca.Pool)
			if err := s2.Connect(ctxT(t), host(t, "127.0.0.1"), wrong); err != nil {
				t.Fatal(err)
			}
			io.WriteString(s2, "STARTTLS\n")
			io.ReadFull(s2, ok)
			err := s2.UpgradeToSsl(ctxT(t), shim.ProtectionLevelSsl, host(t, "127.0.0.1"))
			if shim.GetStatus(err) != shim.SocketErrorCertificateCommonNameIsIncorrect {
				t.Errorf("wrong host: err = %v (status %v)", err, shim.GetStatus(err))
			}
			if _, err := s2.Write([]byte("plain?")); err == nil {
				t.Error("Write after a failed upgrade succeeded: the plain path must be gone")
			}
		})
	}
	if err := new(shim.StreamSocket).UpgradeToSsl(ctxT(t), shim.ProtectionLevelSsl, nil); err == nil {
		t.Error("UpgradeToSsl on an unconnected socket succeeded")
	}
}

// tap is a TCP proxy on loopback that records every byte it forwards in
// either direction.
type tap struct{ syncbuf.Buffer }

func newTap(t *testing.T, dst string) (*tap, string) {
	tp := new(tap)
	a := testutil.Serve(t, func(c net.Conn) {
		d, err := net.Dial("tcp", dst)
		if err != nil {
			return
		}
		defer d.Close()
		done := make(chan struct{})
		go func() {
			io.Copy(io.MultiWriter(d, tp), c)
			d.(*net.TCPConn).CloseWrite()
			close(done)
		}()
		io.Copy(io.MultiWriter(c, tp), d)
		<-done
	})
	return tp, strconv.Itoa(a.Port)
}

// TestRelaySeesOnlyCiphertext puts a recording proxy between the relay
// and the servers: TLS runs in the client, so the relay forwards no
// plaintext, while a plain connection's bytes show up (proving the tap
// works).
func TestRelaySeesOnlyCiphertext(t *testing.T) {
	t.Parallel()
	const marker = "PLAINTEXT-MARKER-6f1c"
	ca := testutil.NewCA(t, "tap")
	url, _ := testutil.Relay(t, nil)
	tr := shim.RelayTransport(url, nil)

	tlsAddr := testutil.TLSServer(t, ca.ServerCert(t), nil, func(c *tls.Conn) { io.Copy(c, c) })
	tlsTap, tlsPort := newTap(t, tlsAddr.String())
	startTap, startPort := newTap(t, "127.0.0.1:"+starttlsServer(t, ca.ServerCert(t)))
	plainTap, plainPort := newTap(t, testutil.EchoServer(t).String())

	s := shim.NewStreamSocket(tr)
	s.Control().SetTrustedRoots(ca.Pool)
	if err := s.ConnectWithProtectionLevel(ctxT(t), host(t, "127.0.0.1"), tlsPort, shim.ProtectionLevelSsl); err != nil {
		t.Fatal(err)
	}
	echoOnce(t, s, marker)
	s.Close()

	u := shim.NewStreamSocket(tr)
	u.Control().SetTrustedRoots(ca.Pool)
	if err := u.Connect(ctxT(t), host(t, "127.0.0.1"), startPort); err != nil {
		t.Fatal(err)
	}
	io.WriteString(u, "STARTTLS\n")
	io.ReadFull(u, make([]byte, 3))
	if err := u.UpgradeToSsl(ctxT(t), shim.ProtectionLevelTls12, host(t, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	echoOnce(t, u, marker)
	u.Close()

	p := shim.NewStreamSocket(tr)
	if err := p.Connect(ctxT(t), host(t, "127.0.0.1"), plainPort); err != nil {
		t.Fatal(err)
	}
	echoOnce(t, p, marker)
	p.Close()

	for name, tp := range map[string]*tap{"tls": tlsTap, "starttls": startTap} {
		b := tp.Bytes()
		if len(b) < 2*len(marker) {
			t.Errorf("%s: the tap saw only %d bytes", name, len(b))
		}
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("%s: the relay forwarded the plaintext", name)
		}
	}
	if !bytes.Contains(plainTap.Bytes(), []byte(marker)) {
		t.Error("the tap did not see a plain connection's bytes")
	}
}

func ExampleStreamSocket_ConnectWithProtectionLevel() {
	// A local HTTPS server stands in for a real one; its certificate is
	// for 127.0.0.1 and comes from a private CA, so trust that CA.
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	defer hs.Close()
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())
	port := hs.URL[strings.LastIndex(hs.URL, ":")+1:]

	host, _ := shim.NewHostName("127.0.0.1")
	s := new(shim.StreamSocket)
	defer s.Close()
	s.Control().SetTrustedRoots(roots) // omit to use the system's (in a browser: bundled) roots
	err := s.ConnectWithProtectionLevel(context.Background(), host, port, shim.ProtectionLevelSsl)
	if err != nil {
		switch shim.GetStatus(err) {
		case shim.SocketErrorCertificateExpired, shim.SocketErrorCertificateUntrustedRoot, shim.SocketErrorCertificateCommonNameIsIncorrect:
			log.Print("certificate problems: ", s.Information().ServerCertificateErrors)
		}
		log.Fatal(err)
	}
	io.WriteString(s, "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
	status, _ := bufio.NewReader(s).ReadString('\n')
	fmt.Print(s.Information().ProtectionLevel, " ", status)
	// Output: Ssl HTTP/1.0 200 OK
}
