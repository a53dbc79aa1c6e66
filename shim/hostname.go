package shim

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// HostNameType is the kind of a HostName, as in
// https://learn.microsoft.com/uwp/api/windows.networking.hostnametype. The
// zero value is HostNameUnknown.
type HostNameType uint8

const (
	HostNameUnknown HostNameType = iota
	HostNameDomainName
	HostNameIPv4
	HostNameIPv6
)

func (t HostNameType) String() string {
	switch t {
	case HostNameDomainName:
		return "DomainName"
	case HostNameIPv4:
		return "Ipv4"
	case HostNameIPv6:
		return "Ipv6"
	}
	return "Unknown"
}

// HostName is a host name or IP address, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.hostname.
type HostName struct {
	raw, canonical, display string
	typ                     HostNameType
}

// NewHostName parses a host name ("example.com", "bücher.example"), an IPv4
// address or an IPv6 address (brackets optional). Malformed names, zones and
// non-canonical numeric forms (such as "127.1" or "0x7f.1") are errors
// wrapping ErrInvalidArgument.
func NewHostName(name string) (*HostName, error) {
	canonical, addr, err := normalizeHost(name)
	if err != nil {
		return nil, fmt.Errorf("shim: host name %q: %w", name, ErrInvalidArgument)
	}
	h := &HostName{raw: name, canonical: canonical, display: name, typ: HostNameDomainName}
	if addr.IsValid() {
		h.typ = HostNameIPv4
		if addr.Is6() {
			h.typ = HostNameIPv6
		}
		h.display = addr.String()
	}
	return h, nil
}

// endpoint is ap as the Information structs hold it: a HostName and a port
// string; nil and "" when ap is not valid.
func endpoint(ap netip.AddrPort) (*HostName, string) {
	if !ap.IsValid() {
		return nil, ""
	}
	return hostNameFromAddr(ap.Addr()), strconv.Itoa(int(ap.Port()))
}

func hostNameFromAddr(a netip.Addr) *HostName {
	if !a.IsValid() {
		return nil
	}
	a = a.Unmap()
	h := &HostName{raw: a.String(), canonical: a.String(), display: a.String(), typ: HostNameIPv4}
	if a.Is6() {
		h.typ = HostNameIPv6
	}
	return h
}

// RawName is the name as given.
func (h *HostName) RawName() string { return h.raw }

// CanonicalName is the normalised name: lower case, IDNA ASCII, no
// trailing dot; for addresses, the canonical text form.
func (h *HostName) CanonicalName() string { return h.canonical }

// DisplayName is the name for display.
func (h *HostName) DisplayName() string { return h.display }

// Type is the kind of name.
func (h *HostName) Type() HostNameType { return h.typ }

// String returns the canonical name.
func (h *HostName) String() string { return h.canonical }

// IsEqual reports whether two HostNames name the same host, as WinRT's
// HostName.IsEqual does (canonical comparison).
func (h *HostName) IsEqual(o *HostName) bool { return o != nil && h.canonical == o.canonical }

// wellKnownServices are the service names every platform resolves the same
// way (browsers have no services database).
var wellKnownServices = map[string]uint16{
	"echo": 7, "discard": 9, "daytime": 13, "ftp": 21, "ssh": 22, "telnet": 23,
	"smtp": 25, "domain": 53, "dns": 53, "http": 80, "pop3": 110, "ntp": 123,
	"imap": 143, "snmp": 161, "ldap": 389, "https": 443, "submission": 587,
	"ldaps": 636, "imaps": 993, "pop3s": 995, "mqtt": 1883, "redis": 6379,
	"http-alt": 8080, "mqtts": 8883,
}

// ParseServiceName resolves a WinRT service name: a port number ("8080") or
// a well-known service ("http", "https", "echo", "domain", ...). Port 0 is
// allowed only when allowZero is set (bind to any port).
func ParseServiceName(service string, allowZero bool) (uint16, error) {
	s := strings.ToLower(strings.TrimSpace(service))
	if s == "" {
		if allowZero {
			return 0, nil
		}
		return 0, fmt.Errorf("shim: empty service name: %w", ErrInvalidArgument)
	}
	if p, ok := wellKnownServices[s]; ok {
		return p, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || (n == 0 && !allowZero) {
		return 0, fmt.Errorf("shim: service name %q is neither a port 1-65535 nor a known service: %w", service, ErrInvalidArgument)
	}
	return uint16(n), nil
}

// joinHostService is "host:service" for messages; service alone when h is
// nil.
func joinHostService(h *HostName, service string) string {
	if h == nil {
		return service
	}
	return net.JoinHostPort(h.CanonicalName(), service)
}
