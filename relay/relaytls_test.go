//go:build !js

package relay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/netip"
	"testing"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/relay"
)

// oneAnswer resolves every name to one address, as a DNS server the client
// controls would.
type oneAnswer struct{ addr netip.Addr }

func (r oneAnswer) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{r.addr}, nil
}

// TestRelayTLS: the native relay does TLS for a client that asks
// (wisp.StreamTLS) with the client's name as SNI and its RelayTLSRoots, the
// policy deciding the resolved address as for any stream.
func TestRelayTLS(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "relay TLS test CA")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.RootPEM())
	echo := func(c *tls.Conn) { io.Copy(c, c) }
	good := testutil.TLSServer(t, ca.ServerCert(t, "localhost", "127.0.0.1", "tls.example"), nil, echo)
	other := testutil.NewCA(t, "a CA the relay does not trust")
	untrusted := testutil.TLSServer(t, other.ServerCert(t, "localhost"), nil, echo)
	wrongName := testutil.TLSServer(t, ca.ServerCert(t, "elsewhere.example"), nil, echo)
	expired := testutil.TLSServer(t, ca.ExpiredCert(t, "localhost"), nil, echo)
	plain := testutil.EchoServer(t)
	closed := testutil.ClosedPort(t)

	// A name the client chose, which resolves to loopback: the relay
	// verifies the certificate for the name and dials the checked address.
	url, _ := testutil.Relay(t, &relay.Options{RelayTLSRoots: roots, Resolver: oneAnswer{netip.MustParseAddr("127.0.0.1")}})
	sess := dial(t, url, nil)
	if !sess.RelayTLS() {
		t.Fatal("the native relay does not advertise relay TLS")
	}
	for _, host := range []string{"localhost", "127.0.0.1", "tls.example"} {
		t.Run("echo "+host, func(t *testing.T) {
			st, err := sess.Open(ctxT(t), wisp.StreamTLS, host, good.AddrPort().Port())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			want := make([]byte, 1<<20)
			rand.Read(want)
			go st.Write(want)
			h := sha256.New()
			if _, err := io.CopyN(h, st, int64(len(want))); err != nil {
				t.Fatal(err)
			}
			if got, exp := h.Sum(nil), sha256.Sum256(want); !bytes.Equal(got, exp[:]) {
				t.Fatalf("sha256 %x, want %x", got, exp)
			}
			if ra := st.RemoteAddr().String(); ra != good.String() {
				t.Errorf("RemoteAddr %q, want the checked address %s", ra, good)
			}
		})
	}
	for _, tc := range []struct {
		name string
		port uint16
		want wisp.CloseReason
	}{
		{"untrusted", untrusted.AddrPort().Port(), wisp.ReasonTLSFailed},
		{"wrong name", wrongName.AddrPort().Port(), wisp.ReasonTLSFailed},
		{"expired", expired.AddrPort().Port(), wisp.ReasonTLSFailed},
		{"no TLS spoken", plain.AddrPort().Port(), wisp.ReasonTLSFailed},
		{"refused", closed.AddrPort().Port(), wisp.ReasonRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := sess.Open(ctxT(t), wisp.StreamTLS, "localhost", tc.port)
			if err == nil {
				st.Close()
				t.Fatal("relay TLS succeeded")
			}
			var ce *wisp.CloseError
			if !errors.As(err, &ce) || ce.Reason != tc.want {
				t.Fatalf("relay TLS: %v, want CLOSE %v", err, tc.want)
			}
		})
	}

	// The policy runs first: an app without the loopback exemption is
	// refused loopback by literal, by localhost and by a name resolving
	// there, before any TLS.
	cfg, err := relay.ParseConfig([]byte(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient","privateNetworkClientServer"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	strictURL, _ := testutil.Relay(t, &relay.Options{Config: cfg, RelayTLSRoots: roots, Resolver: oneAnswer{netip.MustParseAddr("127.0.0.1")}})
	strict := dial(t, strictURL, nil)
	for _, host := range []string{"127.0.0.1", "localhost", "tls.example"} {
		st, err := strict.Open(ctxT(t), wisp.StreamTLS, host, good.AddrPort().Port())
		if err == nil {
			st.Close()
			t.Fatalf("relay TLS to %s allowed without the loopback exemption", host)
		}
		var ce *wisp.CloseError
		if !errors.As(err, &ce) || ce.Reason != wisp.ReasonBlocked && ce.Reason != wisp.ReasonHostNotFound {
			t.Errorf("relay TLS to %s: %v, want a policy denial", host, err)
		}
	}
}
