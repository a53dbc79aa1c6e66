package policy

import (
	"net/netip"
)

// Class is the network class of an address.
type Class uint8

const (
	ClassUnknown  Class = iota
	ClassLoopback       // 127.0.0.0/8, ::1
	ClassPrivate        // RFC 1918, ULA, site-local, link-local (not metadata)
	ClassInternet       // global unicast
	ClassSpecial        // unspecified, multicast, broadcast, reserved, documentation, benchmarking, CGNAT, metadata
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

// Ranges that are never "internet". Conservative on purpose: a block that
// mixes a few globally reachable anycast addresses with reserved ones (such
// as 192.0.0.0/24 or 2001::/23) is special as a whole.
var special4 = mustPrefixes(
	"0.0.0.0/8",       // "this network", includes the unspecified address
	"100.64.0.0/10",   // shared address space (CGNAT), RFC 6598
	"192.0.0.0/24",    // IETF protocol assignments, RFC 6890
	"192.0.2.0/24",    // TEST-NET-1, RFC 5737
	"192.88.99.0/24",  // deprecated 6to4 relay anycast, RFC 7526
	"198.18.0.0/15",   // benchmarking, RFC 2544
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, includes 255.255.255.255 (broadcast)
)

var special6 = mustPrefixes(
	"::/8",           // unspecified, IPv4-compatible, IPv4-translated, reserved (::1 is checked first)
	"100::/64",       // discard-only, RFC 6666
	"100:0:0:1::/64", // dummy prefix, RFC 9780
	"2001::/23",      // IETF protocol assignments (Teredo 2001::/32 is decoded before this)
	"2001:db8::/32",  // documentation, RFC 3849
	"3fff::/20",      // documentation, RFC 9637
	"ff00::/8",       // multicast
)

var private6 = mustPrefixes(
	"fc00::/7",  // unique local, RFC 4193
	"fe80::/10", // link-local
	"fec0::/10", // deprecated site-local, still routed on some private networks
)

var global6 = netip.MustParsePrefix("2000::/3")

// metadata lists cloud instance metadata and host agent endpoints: reaching
// them from a relay that runs in the cloud hands out the instance's
// credentials. They are special (never allowed), even for apps with
// privateNetworkClientServer.
var metadata = mustPrefixes(
	"169.254.169.0/24",   // AWS, GCP, Azure, OCI, OpenStack, DigitalOcean IMDS; AWS DNS/NTP
	"169.254.170.0/24",   // AWS ECS task credentials (.2), EKS pod identity (.23)
	"100.100.100.200/32", // Alibaba Cloud
	"168.63.129.16/32",   // Azure WireServer (a public address, reachable only from Azure hosts)
	"192.0.0.192/32",     // Oracle Cloud legacy metadata
	"fd00:ec2::/32",      // AWS IMDS, DNS, NTP over IPv6
	"fd20:ce::254/128",   // GCP metadata over IPv6
)

var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052
	nat64LocalUse  = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215
	sixToFour      = netip.MustParsePrefix("2002::/16")      // RFC 3056
	teredo         = netip.MustParsePrefix("2001::/32")      // RFC 4380
)

func mustPrefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Classify returns the class of a. It unmaps IPv4-mapped IPv6 first, and an
// IPv6 address that carries an IPv4 destination (NAT64, 6to4, Teredo) has the
// class of that IPv4 address. An address with a zone, or an invalid one, is
// special.
//
// The local-use NAT64 prefix 64:ff9b:1::/48 may be deployed with any RFC 6052
// prefix length, which moves the embedded IPv4 address; the relay cannot know
// which, so such an address has a class only if every possible embedding has
// that same class, and is special otherwise.
func Classify(a netip.Addr) Class {
	c, _ := classify(a)
	return c
}

// classify also reports whether a is (or embeds) a metadata address, so the
// decision can name that reason.
func classify(a netip.Addr) (c Class, meta bool) {
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" {
		return ClassSpecial, false
	}
	if a.Is4() {
		return classify4(a)
	}
	var cands [4]netip.Addr
	if n := embeddedIPv4(a, &cands); n > 0 {
		c, meta = classify4(cands[0])
		for _, e := range cands[1:n] {
			ce, me := classify4(e)
			meta = meta || me
			if ce != c {
				c = ClassSpecial
			}
		}
		return c, meta
	}
	return classify6(a)
}

func classify4(a netip.Addr) (Class, bool) {
	switch {
	case inAny(metadata, a):
		return ClassSpecial, true
	case inAny(special4, a):
		return ClassSpecial, false
	case a.IsLoopback():
		return ClassLoopback, false
	case a.IsPrivate(), a.IsLinkLocalUnicast():
		return ClassPrivate, false
	}
	return ClassInternet, false
}

func classify6(a netip.Addr) (Class, bool) {
	switch {
	case inAny(metadata, a):
		return ClassSpecial, true
	case a == netip.IPv6Loopback():
		return ClassLoopback, false
	case inAny(special6, a):
		return ClassSpecial, false
	case inAny(private6, a):
		return ClassPrivate, false
	case global6.Contains(a):
		return ClassInternet, false
	}
	// Outside 2000::/3 nothing is allocated for global unicast.
	return ClassSpecial, false
}

// embeddedIPv4 stores in out the IPv4 destinations that the IPv6 address a
// reaches through a transition mechanism and returns how many there are:
// 0 if none, 1 for NAT64 well-known prefix, 6to4 and Teredo, and one per RFC
// 6052 prefix length (/48, /56, /64, /96) for the local-use NAT64 prefix.
func embeddedIPv4(a netip.Addr, out *[4]netip.Addr) int {
	b := a.As16()
	v4 := func(p ...byte) netip.Addr { return netip.AddrFrom4([4]byte{p[0], p[1], p[2], p[3]}) }
	switch {
	case nat64WellKnown.Contains(a):
		out[0] = v4(b[12:]...)
		return 1
	case nat64LocalUse.Contains(a):
		// RFC 6052 section 2.2; bits 64-71 (byte 8) are the reserved u octet.
		// Prefix lengths shorter than the /48 allocation are impossible.
		out[0] = v4(b[6], b[7], b[9], b[10])   // /48
		out[1] = v4(b[7], b[9], b[10], b[11])  // /56
		out[2] = v4(b[9], b[10], b[11], b[12]) // /64
		out[3] = v4(b[12:]...)                 // /96
		return 4
	case sixToFour.Contains(a):
		out[0] = v4(b[2:6]...)
		return 1
	case teredo.Contains(a):
		// The client's public IPv4 address is stored inverted in the last 32 bits.
		out[0] = v4(^b[12], ^b[13], ^b[14], ^b[15])
		return 1
	}
	return 0
}
