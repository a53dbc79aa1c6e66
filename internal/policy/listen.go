package policy

import (
	"net/netip"
	"strings"
)

// ListenRules are where an app may hold listeners: the addresses it may
// bind (the first is the default for a request that names none) and the
// ports. A nil *ListenRules means the app may not listen at all.
type ListenRules struct {
	Addrs []netip.Addr // unmapped IP literals; 0.0.0.0 or :: mean every interface
	Ports []PortRange
}

// PortAllowed reports whether the rules list p.
func (l *ListenRules) PortAllowed(p uint16) bool {
	for _, r := range l.Ports {
		if r.Contains(p) {
			return true
		}
	}
	return false
}

// CheckListen decides a request to listen on host:port (host an IP literal,
// possibly in brackets, or "" for the default address; port 0 for any port
// in the rules) and returns the address to bind. The steps, each able to
// deny with its Reason: an app (ReasonNoApp) with rules
// (ReasonListenNotConfigured) and a capability that accepts inbound
// connections (ReasonNoCapability: internetClient alone is outbound only);
// a strict IP literal without a zone (ReasonBadHost); listed in the rules
// (ReasonListenAddress); a listed port (ReasonListenPort); then the bind
// check of CheckAddr (address class, loopback exemption). It reports one
// Decision (OpBind) to OnDecision, allowed or denied; a denial is an *Error.
func (e *Engine) CheckListen(app *App, rules *ListenRules, host string, port uint16) (netip.Addr, error) {
	d := Decision{Op: OpBind, Host: host, Port: port}
	if app != nil {
		d.App = app.ID
	}
	addr, r := e.listenReason(app, rules, host, port)
	d.Reason, d.Addr = r, addr
	if r == ReasonAllowed {
		d = e.decide(app, OpBind, netip.AddrPortFrom(addr, port))
		d.Host = host
	}
	e.report(d)
	if d.Reason != ReasonAllowed {
		return netip.Addr{}, &Error{Op: OpBind, Reason: d.Reason, Host: host, Port: port}
	}
	return addr, nil
}

func (e *Engine) listenReason(app *App, rules *ListenRules, host string, port uint16) (netip.Addr, Reason) {
	switch {
	case app == nil:
		return netip.Addr{}, ReasonNoApp
	case rules == nil || len(rules.Addrs) == 0:
		return netip.Addr{}, ReasonListenNotConfigured
	case !app.Capabilities.Has(InternetClientServer) && !app.Capabilities.Has(PrivateNetworkClientServer):
		return netip.Addr{}, ReasonNoCapability
	}
	addr := rules.Addrs[0]
	if host != "" {
		h := host
		if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
			h = h[1 : len(h)-1]
		}
		a, err := netip.ParseAddr(h)
		if err != nil || a.Zone() != "" || strings.TrimSpace(h) != h {
			return netip.Addr{}, ReasonBadHost
		}
		addr = a.Unmap()
	}
	listed := false
	for _, a := range rules.Addrs {
		listed = listed || a == addr
	}
	if !listed {
		return addr, ReasonListenAddress
	}
	if port != 0 && !rules.PortAllowed(port) {
		return addr, ReasonListenPort
	}
	return addr, ReasonAllowed
}
