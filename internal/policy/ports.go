package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of ports, Lo <= Hi, both 1-65535.
type PortRange struct {
	Lo, Hi uint16
}

// Contains reports whether p is in r.
func (r PortRange) Contains(p uint16) bool { return r.Lo <= p && p <= r.Hi }

// String formats r as ParsePortRange reads it: "80" or "8000-8100".
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// ParsePortRange parses "80" or "8000-8100": decimal, no sign, no spaces,
// 1-65535, low end first.
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	l, err := parsePort(lo)
	if err != nil {
		return PortRange{}, fmt.Errorf("policy: port range %q: %v", s, err)
	}
	h, err := parsePort(hi)
	if err != nil {
		return PortRange{}, fmt.Errorf("policy: port range %q: %v", s, err)
	}
	if l > h {
		return PortRange{}, fmt.Errorf("policy: port range %q: %d is above %d", s, l, h)
	}
	return PortRange{l, h}, nil
}

// ParsePortRanges parses a comma-separated list of ranges, such as
// "80, 443, 8000-8100". Spaces around each range are ignored; the empty
// string is an empty list.
func ParsePortRanges(s string) ([]PortRange, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var rs []PortRange
	for _, f := range strings.Split(s, ",") {
		r, err := ParsePortRange(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("want a port number 1-65535")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("want a port number 1-65535")
		}
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range 1-65535", n)
	}
	return uint16(n), nil
}

// defaultDenied are destination ports denied unless an Allow range names them:
// 25 (SMTP submission from a relay is spam).
var defaultDenied = []PortRange{{25, 25}}

// PortRules are the operator's destination port rules for outbound access
// (connect, datagram, ICE). The zero value allows every port but 25.
//
// A port is denied if a Deny range contains it; otherwise, if Allow is not
// empty, only ports in Allow are allowed; port 25 is denied unless an Allow
// range contains it. Deny wins over Allow.
type PortRules struct {
	Allow []PortRange
	Deny  []PortRange
}

// Allowed reports whether the rules allow destination port p.
func (r *PortRules) Allowed(p uint16) bool {
	var allow, deny []PortRange
	if r != nil {
		allow, deny = r.Allow, r.Deny
	}
	if anyContains(deny, p) {
		return false
	}
	if anyContains(allow, p) {
		return true
	}
	return len(allow) == 0 && !anyContains(defaultDenied, p)
}

func anyContains(rs []PortRange, p uint16) bool {
	for _, r := range rs {
		if r.Contains(p) {
			return true
		}
	}
	return false
}
