package policy

import (
	"net/netip"
	"testing"
)

func TestClassifyZeroAndZone(t *testing.T) {
	t.Parallel()
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("2606:4700::1%1")} {
		if c := Classify(a); c != ClassSpecial {
			t.Errorf("Classify(%v) = %v, want special", a, c)
		}
	}
	for c, want := range map[Class]string{ClassUnknown: "unknown", ClassLoopback: "loopback", ClassPrivate: "private", ClassInternet: "internet", ClassSpecial: "special", Class(99): "unknown"} {
		if c.String() != want {
			t.Errorf("Class(%d) = %s", c, c.String())
		}
	}
}

// v4of decodes the IPv4 address that a transition prefix embeds, written
// independently of embeddedIPv4: ok is false outside the single-embedding
// prefixes.
func v4of(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case netip.MustParsePrefix("64:ff9b::/96").Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case netip.MustParsePrefix("2002::/16").Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case netip.MustParsePrefix("2001::/32").Contains(a):
		return netip.AddrFrom4([4]byte{b[12] ^ 0xff, b[13] ^ 0xff, b[14] ^ 0xff, b[15] ^ 0xff}), true
	}
	return netip.Addr{}, false
}

func FuzzClassify(f *testing.F) {
	for _, hosts := range destinations {
		for _, h := range hosts {
			if _, a, err := Normalize(h); err == nil {
				f.Add(a.AsSlice())
			}
		}
	}
	f.Add(netip.MustParseAddr("::ffff:127.0.0.1").AsSlice())
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		c := Classify(a)
		if c == ClassUnknown {
			t.Fatalf("Classify(%v) = unknown", a)
		}
		if u := Classify(a.Unmap()); u != c {
			t.Fatalf("Classify(%v) = %v, Classify(unmapped %v) = %v", a, c, a.Unmap(), u)
		}
		if a.Is4() {
			if m := Classify(netip.AddrFrom16(a.As16())); m != c {
				t.Fatalf("Classify(%v) = %v, IPv4-mapped = %v", a, c, m)
			}
		}
		if v4, ok := v4of(a); ok && !a.Is4In6() {
			if e := Classify(v4); e != c {
				t.Fatalf("Classify(%v) = %v, its embedded %v is %v", a, c, v4, e)
			}
		}
		if c == ClassInternet {
			u := a.Unmap()
			if u.IsLoopback() || u.IsPrivate() || u.IsMulticast() || u.IsUnspecified() || u.IsLinkLocalUnicast() || u.IsLinkLocalMulticast() || !u.IsGlobalUnicast() {
				t.Fatalf("Classify(%v) = internet", a)
			}
		}
		if c == ClassLoopback && !a.Unmap().IsLoopback() {
			if _, ok := v4of(a); !ok && !netip.MustParsePrefix("64:ff9b:1::/48").Contains(a) {
				t.Fatalf("Classify(%v) = loopback", a)
			}
		}
	})
}
