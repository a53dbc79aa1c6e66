package policy

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, name string
		addr     bool
	}{
		{"example.com", "example.com", false},
		{"Example.COM.", "example.com", false},
		{"EXAMPLE.com", "example.com", false},
		{"bücher.example", "xn--bcher-kva.example", false},
		{"BÜCHER.example", "xn--bcher-kva.example", false},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", false},
		{"ｅｘａｍｐｌｅ．ｃｏｍ", "example.com", false},
		{"example。com", "example.com", false},
		{"_dmarc.example.com", "_dmarc.example.com", false},
		{"a-b.example", "a-b.example", false},
		{"1.2.3.4.nip.io", "1.2.3.4.nip.io", false},
		{"0x7f.example", "0x7f.example", false},
		{"123.example", "123.example", false},
		{"example.0x7g", "example.0x7g", false},
		{"localhost", "localhost", false},
		{strings.Repeat("a", 63) + ".com", strings.Repeat("a", 63) + ".com", false},
		{"127.0.0.1", "127.0.0.1", true},
		{"8.8.8.8", "8.8.8.8", true},
		{"::1", "::1", true},
		{"[::1]", "::1", true},
		{"[2001:DB8::1]", "2001:db8::1", true},
		{"::ffff:127.0.0.1", "127.0.0.1", true},
		{"[::ffff:7f00:1]", "127.0.0.1", true},
		{"0:0:0:0:0:0:0:1", "::1", true},
	}
	for _, tt := range tests {
		name, addr, err := Normalize(tt.in)
		if err != nil || name != tt.name || addr.IsValid() != tt.addr {
			t.Errorf("Normalize(%q) = %q, %v, %v; want %q, addr %v", tt.in, name, addr, err, tt.name, tt.addr)
		}
	}
	for _, in := range destinations[catInvalid] {
		if name, addr, err := Normalize(in); err == nil {
			t.Errorf("Normalize(%q) = %q, %v; want an error", in, name, addr)
		}
	}
}

// inetAton is the most permissive IPv4 parser in use (BSD inet_aton, as in
// glibc, curl and old browsers): 1-4 parts, each decimal, octal with a
// leading 0 or hex with 0x, the last part filling the remaining bytes. It is
// the test's oracle for "a numeric host form slipped through".
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 || len(parts) == 0 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil || p == "" {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (8 * (3 - i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func TestInetAtonOracle(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0x7f000001", "017700000001", "127.0.1", "0x7F.0.0.1"} {
		if a, ok := inetAton(s); !ok || a != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("inetAton(%q) = %v, %v", s, a, ok)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, hosts := range destinations {
		for _, h := range hosts {
			f.Add(h)
		}
	}
	f.Add("bücher.example")
	f.Fuzz(func(t *testing.T, host string) {
		name, addr, err := Normalize(host)
		if err != nil {
			if name != "" || addr.IsValid() {
				t.Fatalf("Normalize(%q) returned %q, %v with error %v", host, name, addr, err)
			}
			return
		}
		// Idempotent: the normal form is a fixed point.
		name2, addr2, err2 := Normalize(name)
		if err2 != nil || name2 != name || addr2 != addr {
			t.Fatalf("Normalize(%q) = %q, %v; again = %q, %v, %v", host, name, addr, name2, addr2, err2)
		}
		if addr.IsValid() {
			if name != addr.String() || addr.Is4In6() || addr.Zone() != "" {
				t.Fatalf("Normalize(%q) = %q, %v: not canonical", host, name, addr)
			}
			return
		}
		if len(name) > MaxNameLen || name != strings.ToLower(name) || strings.HasSuffix(name, ".") || name == "" {
			t.Fatalf("Normalize(%q) = %q: not a normal DNS name", host, name)
		}
		// No numeric IPv4 form slips through as a name, with or without a trailing dot.
		for _, n := range []string{name, name + "."} {
			if a, ok := inetAton(strings.TrimSuffix(n, ".")); ok {
				t.Fatalf("Normalize(%q) = name %q, which inet_aton reads as %v", host, name, a)
			}
			if _, err := netip.ParseAddr(n); err == nil {
				t.Fatalf("Normalize(%q) = name %q, which is an IP literal", host, name)
			}
		}
		for _, c := range []byte(name) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				t.Fatalf("Normalize(%q) = %q: byte %q", host, name, c)
			}
		}
	})
}
