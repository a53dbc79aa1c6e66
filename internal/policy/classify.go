package policy

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// Class is the network class of an address.
type Class uint8

const (
	ClassUnknown  Class = iota
	ClassLoopback       // 127.0.0.0/8, ::1
	ClassPrivate        // RFC 1918, ULA, link-local (not metadata)
	ClassInternet       // global unicast
	ClassSpecial        // unspecified, multicast, broadcast, reserved, documentation, CGNAT, metadata
)

func (c Class) String() string {
	switch c {
	case ClassLoopback:
		return "loopback"
	case ClassPrivate:
		return "private"
	case ClassInternet:
		return "internet"
	case ClassSpecial:
		return "special"
	}
	return "unknown"
}

var special4 = mustPrefixes(
	"0.0.0.0/8", "100.64.0.0/10", "169.254.169.254/32", "192.0.0.0/24", "192.0.2.0/24",
	"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)

var special6 = mustPrefixes("2001:db8::/32", "fd00:ec2::254/128", "ff00::/8", "::/128", "100::/64", "2001::/23")

func mustPrefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// Classify returns the class of a after unmapping IPv4-mapped IPv6.
func Classify(a netip.Addr) Class {
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" {
		return ClassSpecial
	}
	list := special6
	if a.Is4() {
		list = special4
	}
	for _, p := range list {
		if p.Contains(a) {
			return ClassSpecial
		}
	}
	switch {
	case a.IsLoopback():
		return ClassLoopback
	case a.IsPrivate(), a.IsLinkLocalUnicast():
		return ClassPrivate
	case a.IsGlobalUnicast():
		return ClassInternet
	}
	return ClassSpecial
}

// Normalize parses host strictly: an IP literal (optionally bracketed IPv6,
// no zones) or a DNS name, which is lower-cased, IDNA-mapped to ASCII and
// stripped of one trailing dot. Numeric forms that are not canonical dotted
// quads (decimal, octal, hex, short IPv4) are rejected, never resolved.
func Normalize(host string) (name string, addr netip.Addr, err error) {
	if host == "" || len(host) > 255 || strings.ContainsAny(host, "\x00%/\\ \t\r\n") {
		return "", netip.Addr{}, fmt.Errorf("policy: invalid host %q", host)
	}
	h := host
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
		a, perr := netip.ParseAddr(h)
		if perr != nil || !a.Is6() {
			return "", netip.Addr{}, fmt.Errorf("policy: invalid IPv6 literal %q", host)
		}
		return a.Unmap().String(), a.Unmap(), nil
	}
	if a, perr := netip.ParseAddr(h); perr == nil {
		return a.Unmap().String(), a.Unmap(), nil
	}
	h = strings.TrimSuffix(h, ".")
	ascii, ierr := idna.Lookup.ToASCII(h)
	if ierr != nil || ascii == "" || len(ascii) > 253 {
		return "", netip.Addr{}, fmt.Errorf("policy: invalid host name %q", host)
	}
	ascii = strings.ToLower(ascii)
	labels := strings.Split(ascii, ".")
	if last := labels[len(labels)-1]; isNumericLabel(last) {
		// 127.1, 0x7f.1, 2130706433, 017700000001: numeric IPv4 forms.
		return "", netip.Addr{}, fmt.Errorf("policy: non-canonical numeric host %q", host)
	}
	return ascii, netip.Addr{}, nil
}

func isNumericLabel(s string) bool {
	if s == "" {
		return false
	}
	t := strings.TrimPrefix(s, "0x")
	for _, c := range t {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	if t == s { // no 0x prefix: only decimal/octal digits count
		for _, c := range s {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}
