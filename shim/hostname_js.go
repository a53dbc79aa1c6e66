package shim

import (
	"errors"
	"net/netip"
	"strings"
	"syscall/js"
	"unicode/utf8"
)

// normalizeHost is internal/policy's Normalize for the browser build.
// Importing that package links golang.org/x/net/idna with its and x/text's
// Unicode tables (its profile is built at init), about 100 KB of the
// gzipped bundle. The browser has UTS 46 built in, so here:
//
//   - IP literals and ASCII names without xn-- labels, nearly every host,
//     are mapped as that profile maps them: to lower case, with UTS 46's
//     hyphen checks, then policy's checks;
//   - other names go through the browser's own UTS 46 (the WHATWG URL host
//     parser, as for the page's own requests). Browsers skip the hyphen
//     checks and Chromium passes ASCII xn-- labels unchecked, so each xn--
//     label is decoded here, its Unicode form gets the hyphen checks, and
//     the decoded name must map back to the same ASCII (which checks its
//     characters, normal form, joiners and the Bidi rule).
//
// hostname_js_test.go compares the two on a corpus in Node and Chromium.
// They can differ on characters newer than x/net/idna's Unicode version and
// where x/net/idna is laxer than UTS 46 (listed there); the relay
// normalises again with internal/policy. NewHostName reports any failure as
// ErrInvalidArgument, so only success and the normal form matter.
func normalizeHost(host string) (name string, addr netip.Addr, err error) {
	if host == "" || len(host) > maxHostInput || !utf8.ValidString(host) {
		return "", netip.Addr{}, errBadHost
	}
	for _, r := range host {
		if r < 0x20 || r == 0x7f || r == ' ' || r == '%' || r == '/' || r == '\\' || r == '@' || r == '#' || r == '?' {
			return "", netip.Addr{}, errBadHost
		}
	}
	if strings.ContainsAny(host, "[]:") {
		h := host
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		a, err := netip.ParseAddr(h)
		if strings.ContainsAny(h, "[]") || err != nil || !a.Is6() || a.Zone() != "" {
			return "", netip.Addr{}, errBadHost
		}
		a = a.Unmap()
		return a.String(), a, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.String(), a, nil
	}
	ascii, ok := idnaToASCII(host)
	if !ok {
		return "", netip.Addr{}, errBadHost
	}
	ascii = strings.TrimSuffix(ascii, ".")
	if !validHostName(ascii) {
		return "", netip.Addr{}, errBadHost
	}
	return ascii, netip.Addr{}, nil
}

var errBadHost = errors.New("invalid host")

// Policy's limits (internal/policy MaxHostInput, MaxNameLen, MaxLabelLen).
const (
	maxHostInput = 1024
	maxNameLen   = 253
	maxLabelLen  = 63
)

// idnaToASCII is x/net/idna's ToASCII for policy's profile (UTS 46 lookup
// mapping, nontransitional, no STD3 rules, Bidi, hyphen and joiner checks).
func idnaToASCII(host string) (string, bool) {
	if isASCII(host) {
		// UTS 46 maps ASCII to lower case and leaves it at that, but for
		// xn-- labels, whose Unicode form is what gets checked.
		lower, ace := strings.ToLower(host), false
		for _, l := range strings.Split(lower, ".") {
			if strings.HasPrefix(l, "xn--") {
				ace = true
			} else if !hyphensOK(l) {
				return "", false
			}
		}
		if !ace {
			return lower, true
		}
	}
	ascii, ok := browserToASCII(host)
	if !ok || !isASCII(ascii) {
		return "", false
	}
	labels := strings.Split(ascii, ".")
	unicode := make([]string, len(labels))
	decoded := false
	for i, l := range labels {
		unicode[i] = l
		if strings.HasPrefix(l, "xn--") {
			u, ok := punycodeDecode(l[len("xn--"):])
			if !ok || u == "" || isASCII(u) {
				return "", false
			}
			unicode[i], decoded = u, true
		}
		if !hyphensOK(unicode[i]) {
			return "", false
		}
	}
	if decoded {
		// The Unicode form must be valid and map to exactly these labels.
		again, ok := browserToASCII(strings.Join(unicode, "."))
		if !ok || again != ascii {
			return "", false
		}
	}
	return ascii, true
}

// hyphensOK is UTS 46's CheckHyphens for one label (x/net/idna counts
// bytes).
func hyphensOK(l string) bool {
	if len(l) > 4 && l[2] == '-' && l[3] == '-' {
		return false
	}
	return l == "" || l[0] != '-' && l[len(l)-1] != '-'
}

// browserToASCII runs the WHATWG URL host parser (domain to ASCII, then
// the forbidden code point and IPv4 checks).
func browserToASCII(host string) (ascii string, ok bool) {
	defer func() {
		if recover() != nil { // new URL throws on a host it refuses
			ascii, ok = "", false
		}
	}()
	u := js.Global().Get("URL").New("http://" + host + "/")
	return u.Get("hostname").String(), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// validHostName is policy's checkName: 1-63 of [a-z0-9_-] per label, not
// starting or ending with '-', 253 bytes in all, and no last label that a
// URL parser would read as an IPv4 number.
func validHostName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	digits, hex := last, false
	if strings.HasPrefix(last, "0x") {
		digits, hex = last[2:], true
	}
	for i := 0; i < len(digits); i++ {
		if c := digits[i]; !(c >= '0' && c <= '9' || hex && c >= 'a' && c <= 'f') {
			return true
		}
	}
	return false // a decimal or hex number
}

// punycodeDecode decodes a label's Punycode (RFC 3492 section 6.2) without
// the xn-- prefix.
func punycodeDecode(s string) (string, bool) {
	const (
		base, tmin, tmax, skew, damp = 36, 1, 26, 38, 700
		maxInt                       = 1<<31 - 1
	)
	adapt := func(delta, n int, first bool) int {
		if first {
			delta /= damp
		} else {
			delta /= 2
		}
		delta += delta / n
		k := 0
		for delta > (base-tmin)*tmax/2 {
			delta /= base - tmin
			k += base
		}
		return k + (base-tmin+1)*delta/(delta+skew)
	}
	var out []rune
	b := strings.LastIndexByte(s, '-')
	if b == 0 {
		return "", false // a delimiter with no basic code points before it
	}
	if b > 0 {
		out = []rune(s[:b])
	}
	n, i, bias := 128, 0, 72
	for in := b + 1; in < len(s); {
		oldi, w := i, 1
		for k := base; ; k += base {
			if in == len(s) {
				return "", false
			}
			c := s[in]
			in++
			var digit int
			switch {
			case c >= '0' && c <= '9':
				digit = int(c-'0') + 26
			case c >= 'a' && c <= 'z':
				digit = int(c - 'a')
			case c >= 'A' && c <= 'Z':
				digit = int(c - 'A')
			default:
				return "", false
			}
			if digit > (maxInt-i)/w {
				return "", false
			}
			i += digit * w
			t := k - bias
			if t < tmin {
				t = tmin
			} else if t > tmax {
				t = tmax
			}
			if digit < t {
				break
			}
			if w > maxInt/(base-t) {
				return "", false
			}
			w *= base - t
		}
		bias = adapt(i-oldi, len(out)+1, oldi == 0)
		if i/(len(out)+1) > maxInt-n {
			return "", false
		}
		n += i / (len(out) + 1)
		i %= len(out) + 1
		if n > utf8.MaxRune || n >= 0xd800 && n <= 0xdfff || len(out) >= maxLabelLen {
			return "", false
		}
		out = append(out, 0)
		copy(out[i+1:], out[i:])
		out[i] = rune(n)
		i++
	}
	return string(out), true
}
