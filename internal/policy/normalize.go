package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits of Normalize.
const (
	// MaxHostInput is the longest host string Normalize looks at, in bytes.
	// Longer than a DNS name because IDNA input in UTF-8 is longer than its
	// ASCII form.
	MaxHostInput = 1024
	// MaxNameLen is the longest normalised DNS name (RFC 1035, without the
	// trailing dot).
	MaxNameLen = 253
	// MaxLabelLen is the longest label of a DNS name.
	MaxLabelLen = 63
)

// idnaProfile is UTS 46 lookup mapping (nontransitional, case folding, Bidi
// and joiner rules) without the STD3 ASCII restriction, so that names with
// '_' pass; the ASCII result is validated by checkName instead.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.StrictDomainName(false),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.CheckHyphens(true),
	idna.CheckJoiners(true),
)

var errHost = errors.New("invalid host")

func hostErr(host, why string) error {
	return fmt.Errorf("policy: %w %s: %s", errHost, quoteHost(host), why)
}

// Normalize parses host strictly and returns either a canonical IP literal
// (name is addr.String(), addr is valid) or a canonical DNS name (addr is the
// zero Addr).
//
// IP literals: canonical dotted-quad IPv4, or IPv6 with or without brackets;
// IPv4-mapped IPv6 is unmapped; zones are rejected. DNS names are mapped with
// IDNA (UTS 46, nontransitional) to lower-case ASCII, one trailing dot is
// removed, and every label must be 1-63 of [a-z0-9_-] not starting or ending
// with '-', 253 bytes in all.
//
// Numeric host forms that some resolvers and URL parsers accept as IPv4
// (decimal 2130706433, octal 0177.0.0.1, hex 0x7f.1, short 127.1, mixed,
// full-width digits, leading zeros as in 127.0.0.01) are rejected, never
// resolved: a name whose last label is a number is invalid, as in the WHATWG
// URL standard. Such a name can never be registered in DNS, so nothing
// legitimate is lost.
func Normalize(host string) (name string, addr netip.Addr, err error) {
	if host == "" {
		return "", netip.Addr{}, hostErr(host, "empty")
	}
	if len(host) > MaxHostInput {
		return "", netip.Addr{}, hostErr(host, "too long")
	}
	if !utf8.ValidString(host) {
		return "", netip.Addr{}, hostErr(host, "not UTF-8")
	}
	for _, r := range host {
		if r < 0x20 || r == 0x7f || r == ' ' || r == '%' || r == '/' || r == '\\' || r == '@' || r == '#' || r == '?' {
			return "", netip.Addr{}, hostErr(host, "forbidden character")
		}
	}
	if strings.ContainsAny(host, "[]:") {
		return normalizeIPv6(host)
	}
	if a, perr := netip.ParseAddr(host); perr == nil {
		return a.String(), a, nil
	}
	ascii, ierr := idnaProfile.ToASCII(host)
	if ierr != nil {
		return "", netip.Addr{}, hostErr(host, "not a valid IDNA name")
	}
	ascii = strings.ToLower(strings.TrimSuffix(ascii, "."))
	if why := checkName(ascii); why != "" {
		return "", netip.Addr{}, hostErr(host, why)
	}
	return ascii, netip.Addr{}, nil
}

func normalizeIPv6(host string) (string, netip.Addr, error) {
	h := host
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if strings.ContainsAny(h, "[]") {
		return "", netip.Addr{}, hostErr(host, "unbalanced brackets")
	}
	a, err := netip.ParseAddr(h)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return "", netip.Addr{}, hostErr(host, "not an IPv6 literal")
	}
	a = a.Unmap()
	return a.String(), a, nil
}

// checkName validates a lower-case ASCII name and returns why it is invalid,
// or "".
func checkName(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > MaxNameLen {
		return "name too long"
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" {
			return "empty label"
		}
		if len(l) > MaxLabelLen {
			return "label too long"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "label starts or ends with '-'"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "character not allowed in a host name"
			}
		}
	}
	if isNumericLabel(labels[len(labels)-1]) {
		return "numeric host form (decimal, octal, hex or short IPv4)"
	}
	return ""
}

// isNumericLabel reports whether the WHATWG URL host parser would read the
// label as an IPv4 number: all decimal digits, or 0x followed by hex digits
// (possibly none).
func isNumericLabel(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := s, false
	if strings.HasPrefix(s, "0x") {
		digits, hex = s[2:], true
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c >= '0' && c <= '9' || hex && c >= 'a' && c <= 'f' {
			continue
		}
		return false
	}
	return true
}

// quoteHost renders a host from the network for messages and logs: quoted,
// so control characters cannot forge log lines, and at most 80 bytes.
func quoteHost(h string) string {
	const max = 80
	if len(h) > max {
		return fmt.Sprintf("%q...(%d bytes)", h[:max], len(h))
	}
	return fmt.Sprintf("%q", h)
}
