package policy

import "net/netip"

// CheckUnresolved decides what can be decided about host:port without
// resolving a name, for a relay whose platform resolves and connects in one
// step and lets nobody see the address in between (Cloudflare Workers'
// connect(), the edge build). It applies the same rules as Check, in the
// same order, except DNS:
//   - the precheck: an app, a capability, a valid op, the port rules;
//   - the host's syntax and normalisation (IDNA, trailing dot, every numeric
//     IPv4 form, bracketed IPv6 with or without a zone);
//   - every rule on a literal address, after Unmap, with embedded IPv4
//     (NAT64, 6to4, Teredo) decided as that IPv4 address;
//   - the name rules: localhost names (decided as 127.0.0.1 and ::1),
//     metadata names, DenyNames.
//
// A name that passes comes back as Target.Host with no Addrs: the platform
// resolves it, and its own refusals (private and reserved ranges) are the
// only check on the answer. Since such a name can reach only what an
// outbound internet connection can, it also needs internetClient or
// internetClientServer. Literals and localhost names come back with Addrs,
// as from Check. Decisions are reported (OnDecision) as Check's are.
func (e *Engine) CheckUnresolved(app *App, op Op, host string, port uint16) (Target, error) {
	t, d := e.checkUnresolved(app, op, host, port)
	if app != nil {
		d.App = app.ID
	}
	d.Op, d.Host, d.Port = op, host, port
	e.report(d)
	if d.Reason != ReasonAllowed {
		return Target{}, &Error{Op: op, Reason: d.Reason, Host: host, Port: port}
	}
	return t, nil
}

func (e *Engine) checkUnresolved(app *App, op Op, host string, port uint16) (Target, Decision) {
	if r := e.precheck(app, op, port); r != ReasonAllowed {
		return Target{}, Decision{Reason: r}
	}
	name, addr, err := Normalize(host)
	if err != nil {
		return Target{}, Decision{Reason: ReasonBadHost}
	}
	var addrs []netip.Addr
	switch {
	case addr.IsValid():
		addrs = []netip.Addr{addr.Unmap()}
	default:
		if r := e.nameRule(app, name); r != ReasonAllowed {
			return Target{}, Decision{Reason: r}
		}
		if !isLocalhostName(name) {
			if app.Capabilities&(InternetClient|InternetClientServer) == 0 {
				return Target{}, Decision{Reason: ReasonNoCapability}
			}
			return Target{Host: name, Port: port}, Decision{Reason: ReasonAllowed}
		}
		addrs = localhostAddrs
	}
	t := Target{Host: name, Port: port}
	for _, a := range addrs {
		if r := e.decideAddr(app, op, netip.AddrPortFrom(a, port)); r != ReasonAllowed {
			return Target{}, Decision{Reason: r, Addr: a}
		}
		t.Addrs = append(t.Addrs, a)
	}
	return t, Decision{Reason: ReasonAllowed, Addr: t.Addrs[0]}
}
