package shim_test

import (
	"errors"
	"testing"

	"github.com/sockshim/sockshim/shim"
)

func TestHostName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, canonical string
		typ           shim.HostNameType
	}{
		{"Example.COM.", "example.com", shim.HostNameDomainName},
		{"bücher.example", "xn--bcher-kva.example", shim.HostNameDomainName},
		{"127.0.0.1", "127.0.0.1", shim.HostNameIPv4},
		{"::1", "::1", shim.HostNameIPv6},
		{"[2001:DB8::1]", "2001:db8::1", shim.HostNameIPv6},
		{"::ffff:10.0.0.1", "10.0.0.1", shim.HostNameIPv4},
	}
	for _, c := range cases {
		h, err := shim.NewHostName(c.in)
		if err != nil {
			t.Errorf("NewHostName(%q): %v", c.in, err)
			continue
		}
		if h.CanonicalName() != c.canonical || h.Type() != c.typ || h.RawName() != c.in {
			t.Errorf("NewHostName(%q) = %q %v raw %q, want %q %v", c.in, h.CanonicalName(), h.Type(), h.RawName(), c.canonical, c.typ)
		}
	}
	for _, bad := range []string{"", "a b", "fe80::1%eth0", "127.1", "0x7f.0.0.1", "2130706433", "a\x00b", "-bad-.example"} {
		if _, err := shim.NewHostName(bad); !errors.Is(err, shim.ErrInvalidArgument) {
			t.Errorf("NewHostName(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestServiceName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint16{"http": 80, "HTTPS": 443, "8080": 8080, "echo": 7, "domain": 53, "65535": 65535} {
		if got, err := shim.ParseServiceName(in, false); err != nil || got != want {
			t.Errorf("ParseServiceName(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "65536", "-1", "gopher-nope", "80a"} {
		if _, err := shim.ParseServiceName(bad, false); !errors.Is(err, shim.ErrInvalidArgument) {
			t.Errorf("ParseServiceName(%q) accepted", bad)
		}
	}
	if p, err := shim.ParseServiceName("", true); err != nil || p != 0 {
		t.Errorf("bind to any port: %d, %v", p, err)
	}
}

func TestSocketErrorStatusString(t *testing.T) {
	t.Parallel()
	if shim.SocketErrorCertificateIsInvalid.String() != "CertificateIsInvalid" || shim.SocketErrorUnknown.String() != "Unknown" ||
		shim.SocketErrorStatus(99).String() != "SocketErrorStatus(99)" || int(shim.SocketErrorCertificateIsInvalid) != 30 {
		t.Error("SocketErrorStatus names or values are off")
	}
}
