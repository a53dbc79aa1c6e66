package policy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Capabilities is a set of WinRT network capabilities.
type Capabilities uint8

const (
	// InternetClient: outbound to global unicast addresses.
	InternetClient Capabilities = 1 << iota
	// InternetClientServer: InternetClient plus inbound from the internet.
	InternetClientServer
	// PrivateNetworkClientServer: outbound and inbound on private networks.
	PrivateNetworkClientServer
)

// AllCapabilities is every capability.
const AllCapabilities = InternetClient | InternetClientServer | PrivateNetworkClientServer

var capNames = []struct {
	c    Capabilities
	name string
}{
	{InternetClient, "internetClient"},
	{InternetClientServer, "internetClientServer"},
	{PrivateNetworkClientServer, "privateNetworkClientServer"},
}

// ParseCapability parses a manifest capability name such as "internetClient".
func ParseCapability(s string) (Capabilities, error) {
	for _, n := range capNames {
		if n.name == s {
			return n.c, nil
		}
	}
	return 0, fmt.Errorf("policy: unknown capability %q (want internetClient, internetClientServer or privateNetworkClientServer)", s)
}

func (c Capabilities) String() string {
	var parts []string
	for _, n := range capNames {
		if c&n.c != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// Has reports whether c includes all of o.
func (c Capabilities) Has(o Capabilities) bool { return c&o == o }

// Op is the kind of network access being decided.
type Op uint8

// Outbound ops (connect, datagram, ICE) need a destination port and obey
// Engine.Ports; inbound ops (bind, accept) need internetClientServer for
// internet addresses, and a bind to the unspecified address (every interface)
// needs internetClientServer.
const (
	OpUnknown  Op = iota
	OpConnect     // outbound TCP stream
	OpDatagram    // UDP datagram destination; also a reply from a peer the socket has sent to
	OpBind        // listener or UDP bind address; port 0 means any
	OpAccept      // inbound peer of a listener, or a datagram from a peer not yet sent to
	OpICE         // remote ICE candidate
)

func (o Op) valid() bool    { return o >= OpConnect && o <= OpICE }
func (o Op) outbound() bool { return o == OpConnect || o == OpDatagram || o == OpICE }

func (o Op) String() string {
	switch o {
	case OpConnect:
		return "connect"
	case OpDatagram:
		return "datagram"
	case OpBind:
		return "bind"
	case OpAccept:
		return "accept"
	case OpICE:
		return "ice"
	}
	return "unknown"
}

// App is one registered application: who it is and what it may reach.
type App struct {
	ID             string
	Capabilities   Capabilities
	LoopbackExempt bool
}

// Resolver looks up host names; *net.Resolver implements it. It must honour
// ctx's deadline. A *net.Resolver is given the name fully qualified (with a
// trailing dot), so resolv.conf search domains never expand it into an
// internal name (Go's resolver then also skips /etc/hosts); other resolvers
// get the normalised name without the dot. Localhost names are never looked
// up: they are 127.0.0.1 and ::1.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Engine decides. Its zero value resolves with the pure-Go resolver and a
// 5 s timeout, denies destination port 25, and reports nothing. An Engine is
// safe for concurrent use; do not change its fields while it is in use.
type Engine struct {
	// Resolver, nil means &net.Resolver{PreferGo: true}.
	Resolver Resolver
	// ResolveTimeout, zero means 5 s.
	ResolveTimeout time.Duration
	// Self reports whether an address is one of the relay's own listeners;
	// such destinations are always denied (no loops). SelfSet.Contains fits.
	Self func(netip.AddrPort) bool
	// Ports are the destination port rules for connect, datagram and ICE.
	// The zero value denies only port 25.
	Ports PortRules
	// DenyNames are host names denied before any DNS query, each in
	// lower-case ASCII (punycode) form; an entry denies the name and every
	// name under it ("example.com" denies "a.example.com").
	DenyNames []string
	// NAT64Prefixes are network-specific NAT64 prefixes (RFC 6052: /32, /40,
	// /48, /56, /64 or /96) of the relay's own network, whose addresses
	// reach the IPv4 address they embed; such an address is decided as that
	// IPv4 address. The well-known prefixes need no entry. Prefixes of other
	// lengths make every address in them special.
	NAT64Prefixes []netip.Prefix
	// OnDecision, if not nil, is called once for each Check and CheckAddr,
	// allowed or denied, and for each denial by the dial-time gate. It must
	// be fast and safe for concurrent use (Counters.Record is).
	OnDecision func(Decision)
}

// Target is an allowed destination: dial one of Addrs, nothing else.
type Target struct {
	Host  string       // normalised host name or IP literal
	Port  uint16       //
	Addrs []netip.Addr // every answer, each checked, unmapped, without duplicates
}

const defaultResolveTimeout = 5 * time.Second

func (e *Engine) resolver() Resolver {
	if e.Resolver != nil {
		return e.Resolver
	}
	return &net.Resolver{PreferGo: true}
}

func (e *Engine) report(d Decision) {
	if e.OnDecision != nil {
		e.OnDecision(d)
	}
}

// fullReach reports whether app may reach every class a name can resolve to
// apart from special addresses, so telling it that a name does not exist
// reveals nothing it could not learn by connecting.
func fullReach(app *App) bool {
	return app.Capabilities.Has(PrivateNetworkClientServer) && app.LoopbackExempt
}

// Check decides whether app may perform op against host:port, resolving a
// host name. On success, dial only the returned Target's addresses
// (DialTarget). A denial is an *Error; see its doc for what it reveals.
func (e *Engine) Check(ctx context.Context, app *App, op Op, host string, port uint16) (Target, error) {
	t, d, viaDNS := e.check(ctx, app, op, host, port)
	if app != nil {
		d.App = app.ID
	}
	d.Op, d.Host, d.Port = op, host, port
	e.report(d)
	if d.Reason != ReasonAllowed {
		return Target{}, &Error{Op: op, Reason: d.Reason, Host: host, Port: port, concealed: viaDNS && !fullReach(app)}
	}
	return t, nil
}

// check runs the pipeline. viaDNS is true when the outcome depends on what
// DNS said about a name.
func (e *Engine) check(ctx context.Context, app *App, op Op, host string, port uint16) (t Target, d Decision, viaDNS bool) {
	if r := e.precheck(app, op, port); r != ReasonAllowed {
		return Target{}, Decision{Reason: r}, false
	}
	name, addr, err := Normalize(host)
	if err != nil {
		return Target{}, Decision{Reason: ReasonBadHost}, false
	}
	var addrs []netip.Addr
	if addr.IsValid() {
		addrs = []netip.Addr{addr}
	} else {
		if r := e.nameRule(app, name); r != ReasonAllowed {
			return Target{}, Decision{Reason: r}, false
		}
		if isLocalhostName(name) {
			addrs = localhostAddrs
		} else {
			var r Reason
			addrs, r = e.resolve(ctx, name)
			if r != ReasonAllowed {
				return Target{}, Decision{Reason: r}, true
			}
			viaDNS = true
		}
	}
	t = Target{Host: name, Port: port, Addrs: make([]netip.Addr, 0, len(addrs))}
	var denied Decision
	for _, a := range addrs {
		a = a.Unmap()
		if slices.Contains(t.Addrs, a) {
			continue
		}
		if r := e.decideAddr(app, op, netip.AddrPortFrom(a, port)); r != ReasonAllowed {
			if denied.Reason == ReasonUnknown {
				denied = Decision{Reason: r, Addr: a}
			}
			continue
		}
		t.Addrs = append(t.Addrs, a)
	}
	switch {
	case denied.Reason != ReasonUnknown && len(t.Addrs) > 0:
		denied.Reason = ReasonMixedAnswers
		return Target{}, denied, viaDNS
	case denied.Reason != ReasonUnknown:
		return Target{}, denied, viaDNS
	}
	return t, Decision{Reason: ReasonAllowed, Addr: t.Addrs[0]}, viaDNS
}

// precheck is what needs neither host nor address: a known op, an app with a
// capability, a port that the op and the port rules accept.
func (e *Engine) precheck(app *App, op Op, port uint16) Reason {
	switch {
	case app == nil:
		return ReasonNoApp
	case !op.valid():
		return ReasonBadOp
	case app.Capabilities&AllCapabilities == 0:
		return ReasonNoCapability
	case op.outbound() && port == 0:
		return ReasonBadPort
	case op.outbound() && !e.Ports.Allowed(port):
		return ReasonPortDenied
	}
	return ReasonAllowed
}

// metadataNames are cloud metadata host names, denied without a DNS query.
var metadataNames = []string{
	"metadata", "metadata.google.internal", "metadata.goog",
	"instance-data", "instance-data.ec2.internal",
}

// localhostAddrs are the answers for localhost names, which RFC 6761 makes
// loopback whatever a resolver or a hosts file says; no resolver is asked.
var localhostAddrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}

func isLocalhostName(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

// nameRule applies the rules that need only the normalised name.
func (e *Engine) nameRule(app *App, name string) Reason {
	if isLocalhostName(name) && !app.LoopbackExempt {
		return ReasonLoopback
	}
	if slices.Contains(metadataNames, name) {
		return ReasonMetadata
	}
	for _, d := range e.DenyNames {
		d = strings.TrimSuffix(strings.ToLower(d), ".")
		if d != "" && (name == d || strings.HasSuffix(name, "."+d)) {
			return ReasonNameDenied
		}
	}
	return ReasonAllowed
}

// resolve looks name up, failing closed: no answer is a denial.
func (e *Engine) resolve(ctx context.Context, name string) ([]netip.Addr, Reason) {
	timeout := e.ResolveTimeout
	if timeout <= 0 {
		timeout = defaultResolveTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := e.resolver()
	query := name
	if _, ok := res.(*net.Resolver); ok {
		query += "."
	}
	addrs, err := res.LookupNetIP(rctx, "ip", query)
	var dnsErr *net.DNSError
	isDNS := errors.As(err, &dnsErr)
	switch {
	case err == nil && len(addrs) > 0:
		return addrs, ReasonAllowed
	case err == nil, isDNS && dnsErr.IsNotFound:
		return nil, ReasonHostNotFound
	case ctx.Err() == nil && rctx.Err() != nil, isDNS && dnsErr.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		return nil, ReasonResolveTimeout
	}
	return nil, ReasonResolveFailed
}

// CheckAddr decides for an address that needs no resolution: a datagram's
// destination (check every one), an accepted peer, a bind address, an ICE
// candidate, the dial-time gate. A denial is an *Error.
func (e *Engine) CheckAddr(app *App, op Op, ap netip.AddrPort) error {
	d := e.decide(app, op, ap)
	e.report(d)
	if d.Reason != ReasonAllowed {
		return &Error{Op: op, Reason: d.Reason, Host: ap.Addr().String(), Port: ap.Port()}
	}
	return nil
}

func (e *Engine) decide(app *App, op Op, ap netip.AddrPort) Decision {
	d := Decision{Op: op, Host: ap.Addr().String(), Port: ap.Port(), Addr: ap.Addr()}
	if app != nil {
		d.App = app.ID
	}
	if d.Reason = e.precheck(app, op, ap.Port()); d.Reason == ReasonAllowed {
		d.Reason = e.decideAddr(app, op, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	return d
}

// decideAddr applies relay-self, address class and capabilities to one
// unmapped address; precheck has passed.
func (e *Engine) decideAddr(app *App, op Op, ap netip.AddrPort) Reason {
	a := ap.Addr()
	if op != OpAccept && e.Self != nil && e.Self(ap) {
		return ReasonSelf
	}
	if op == OpAccept {
		// The kernel names the interface of a link-local peer; only a zone
		// chosen by the client is suspect.
		a = a.WithZone("")
	}
	if op == OpBind && a.IsUnspecified() {
		// Every interface, so also the internet-facing ones.
		if !app.Capabilities.Has(InternetClientServer) {
			return ReasonNoCapability
		}
		return ReasonAllowed
	}
	class, meta := e.classify(a)
	switch class {
	case ClassLoopback:
		if !app.LoopbackExempt {
			return ReasonLoopback
		}
		return ReasonAllowed
	case ClassPrivate:
		if !app.Capabilities.Has(PrivateNetworkClientServer) {
			return ReasonPrivate
		}
		return ReasonAllowed
	case ClassInternet:
		need := InternetClient | InternetClientServer // either serves outbound
		if !op.outbound() {
			need = InternetClientServer
		}
		if app.Capabilities&need == 0 {
			return ReasonNoCapability
		}
		return ReasonAllowed
	}
	if meta {
		return ReasonMetadata
	}
	return ReasonNotUnicast
}

// classify is Classify with the operator's NAT64 prefixes.
func (e *Engine) classify(a netip.Addr) (Class, bool) {
	if a.Is6() && !a.Is4In6() && a.Zone() == "" {
		for _, p := range e.NAT64Prefixes {
			if p.Contains(a) {
				v4, ok := nat64Embedded(a, p.Bits())
				if !ok {
					return ClassSpecial, false
				}
				return classify4(v4)
			}
		}
	}
	return classify(a)
}

// nat64Embedded extracts the IPv4 address embedded after a NAT64 prefix of
// the given length, skipping the u octet (bits 64-71), per RFC 6052 2.2.
func nat64Embedded(a netip.Addr, bits int) (netip.Addr, bool) {
	if bits%8 != 0 || bits < 32 || bits > 96 || bits == 72 || bits == 80 || bits == 88 {
		return netip.Addr{}, false
	}
	b := a.As16()
	var v4 [4]byte
	i := bits / 8
	for n := 0; n < 4; i++ {
		if i == 8 {
			continue
		}
		v4[n] = b[i]
		n++
	}
	return netip.AddrFrom4(v4), true
}
