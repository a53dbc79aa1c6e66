//go:build !js

package shim_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// fixedDNS answers every name the same way.
type fixedDNS struct {
	addrs []netip.Addr
	nx    bool
}

func (r fixedDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if r.nx {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return r.addrs, nil
}

// TestNameWithoutAddressIsHostNotFound: a name that does not exist or has
// no address is SocketErrorHostNotFound through the relay, for an app with
// every capability and for one with internetClient only. For the latter a
// name that resolves to private space reads the same (the relay must not
// tell "does not exist" from "exists but private", docs/SECURITY.md); an
// IP literal it may not reach stays an access denial.
func TestNameWithoutAddressIsHostNotFound(t *testing.T) {
	t.Parallel()
	internetOnly, err := relay.ParseConfig([]byte(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	private := []netip.Addr{netip.MustParseAddr("10.1.2.3")}
	for _, tc := range []struct {
		name   string
		cfg    *relay.Config
		dns    fixedDNS
		host   string
		status shim.SocketErrorStatus
		denied bool
	}{
		{"all caps, NXDOMAIN", relay.DevConfig(), fixedDNS{nx: true}, "nothing.example", shim.SocketErrorHostNotFound, false},
		{"all caps, no address", relay.DevConfig(), fixedDNS{}, "nothing.example", shim.SocketErrorHostNotFound, false},
		{"internetClient, NXDOMAIN", internetOnly, fixedDNS{nx: true}, "nothing.example", shim.SocketErrorHostNotFound, false},
		{"internetClient, no address", internetOnly, fixedDNS{}, "nothing.example", shim.SocketErrorHostNotFound, false},
		{"internetClient, private name", internetOnly, fixedDNS{addrs: private}, "intranet.example", shim.SocketErrorHostNotFound, false},
		{"internetClient, private literal", internetOnly, fixedDNS{}, "10.1.2.3", shim.SocketErrorUnknown, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, _ := testutil.Relay(t, &relay.Options{Config: tc.cfg, Resolver: tc.dns})
			err := shim.NewStreamSocket(shim.RelayTransport(url, nil)).Connect(ctxT(t), host(t, tc.host), "80")
			if got := shim.GetStatus(err); got != tc.status || errors.Is(err, shim.ErrAccessDenied) != tc.denied {
				t.Fatalf("Connect %s: %v (status %v, access denied %v), want status %v, access denied %v",
					tc.host, err, got, errors.Is(err, shim.ErrAccessDenied), tc.status, tc.denied)
			}
		})
	}
}
