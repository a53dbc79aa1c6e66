// Package policy is sockshim's one decision pipeline for network access: every
// outbound stream, datagram destination, listener bind, accepted peer and ICE
// candidate goes through an Engine. It follows the WinRT network isolation
// model: capabilities per app, loopback only with an explicit exemption.
//
// The pipeline: strict parse -> normalise -> name rules -> port rules ->
// resolve (fail closed) -> classify every answer -> capability check. Callers
// dial only the addresses in the returned Target.
package policy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
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

const (
	OpUnknown  Op = iota
	OpConnect     // outbound TCP stream
	OpDatagram    // UDP datagram destination
	OpBind        // listener or UDP bind address
	OpAccept      // inbound peer of a listener or bound socket
	OpICE         // remote ICE candidate
)

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

// Resolver looks up host names; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Engine decides. Its zero value resolves with the pure-Go resolver, a 5 s
// timeout, and denies port 25.
type Engine struct {
	// Resolver, nil means &net.Resolver{PreferGo: true}.
	Resolver Resolver
	// ResolveTimeout, zero means 5 s.
	ResolveTimeout time.Duration
	// Self reports whether an address is one of the relay's own listeners;
	// such destinations are always denied (no loops).
	Self func(netip.AddrPort) bool
}

// Target is an allowed destination: dial one of Addrs, nothing else.
type Target struct {
	Host  string       // normalised host name or IP literal
	Port  uint16
	Addrs []netip.Addr // every answer, each checked
}

// Reason names why a decision was made.
type Reason uint8

const (
	ReasonUnknown Reason = iota
	ReasonAllowed
	ReasonNoApp
	ReasonNoCapability
	ReasonLoopback
	ReasonPrivate
	ReasonNotUnicast
	ReasonBadHost
	ReasonBadPort
	ReasonPortDenied
	ReasonHostNotFound
	ReasonResolveTimeout
	ReasonResolveFailed
	ReasonMixedAnswers
	ReasonSelf
)

var reasonNames = [...]string{
	ReasonUnknown:        "unknown",
	ReasonAllowed:        "allowed",
	ReasonNoApp:          "no_app",
	ReasonNoCapability:   "no_capability",
	ReasonLoopback:       "loopback_not_exempt",
	ReasonPrivate:        "private_network",
	ReasonNotUnicast:     "special_address",
	ReasonBadHost:        "bad_host",
	ReasonBadPort:        "bad_port",
	ReasonPortDenied:     "port_denied",
	ReasonHostNotFound:   "host_not_found",
	ReasonResolveTimeout: "resolve_timeout",
	ReasonResolveFailed:  "resolve_failed",
	ReasonMixedAnswers:   "mixed_answers",
	ReasonSelf:           "relay_self",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// ErrDenied is wrapped by every *Error that denies access.
var ErrDenied = errors.New("access denied by network policy")

// ErrHostNotFound is wrapped by an *Error for a name that does not resolve.
var ErrHostNotFound = errors.New("host not found")

// ErrInvalid is wrapped by an *Error for a malformed host or port.
var ErrInvalid = errors.New("invalid destination")

// Error is a decision against access. Its message never includes resolved
// addresses, so it does not reveal what a denied name points at.
type Error struct {
	Op     Op
	Reason Reason
	Host   string
	Port   uint16
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %v (%s)", e.Op, net.JoinHostPort(e.Host, fmt.Sprint(e.Port)), e.Unwrap(), e.Reason)
}

func (e *Error) Unwrap() error {
	switch e.Reason {
	case ReasonHostNotFound:
		return ErrHostNotFound
	case ReasonBadHost, ReasonBadPort:
		return ErrInvalid
	}
	return ErrDenied
}

func (e *Engine) resolver() Resolver {
	if e.Resolver != nil {
		return e.Resolver
	}
	return &net.Resolver{PreferGo: true}
}

// Check decides whether app may perform op against host:port, resolving
// names. On success, dial only the returned Target's addresses.
func (e *Engine) Check(ctx context.Context, app *App, op Op, host string, port uint16) (Target, error) {
	deny := func(r Reason) (Target, error) {
		return Target{}, &Error{Op: op, Reason: r, Host: host, Port: port}
	}
	if app == nil {
		return deny(ReasonNoApp)
	}
	if port == 0 && op != OpBind {
		return deny(ReasonBadPort)
	}
	name, addr, err := Normalize(host)
	if err != nil {
		return deny(ReasonBadHost)
	}
	if port == 25 && op != OpBind {
		return deny(ReasonPortDenied)
	}
	var addrs []netip.Addr
	if addr.IsValid() {
		addrs = []netip.Addr{addr}
	} else {
		timeout := e.ResolveTimeout
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		addrs, err = e.resolver().LookupNetIP(rctx, "ip", name)
		cancel()
		var dnsErr *net.DNSError
		switch {
		case err == nil && len(addrs) > 0:
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound, err == nil:
			return deny(ReasonHostNotFound)
		case errors.Is(err, context.DeadlineExceeded), errors.As(err, &dnsErr) && dnsErr.IsTimeout:
			return deny(ReasonResolveTimeout)
		default:
			return deny(ReasonResolveFailed)
		}
	}
	t := Target{Host: name, Port: port}
	for _, a := range addrs {
		a = a.Unmap()
		if r := e.decideAddr(app, op, netip.AddrPortFrom(a, port)); r != ReasonAllowed {
			if len(addrs) > 1 {
				r = ReasonMixedAnswers
			}
			return deny(r)
		}
		t.Addrs = append(t.Addrs, a)
	}
	return t, nil
}

// CheckAddr decides for an address that needs no resolution: the second gate
// at dial time, an accepted peer, a datagram source or destination.
func (e *Engine) CheckAddr(app *App, op Op, ap netip.AddrPort) error {
	if app == nil {
		return &Error{Op: op, Reason: ReasonNoApp, Host: ap.Addr().String(), Port: ap.Port()}
	}
	if r := e.decideAddr(app, op, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())); r != ReasonAllowed {
		return &Error{Op: op, Reason: r, Host: ap.Addr().String(), Port: ap.Port()}
	}
	return nil
}

func (e *Engine) decideAddr(app *App, op Op, ap netip.AddrPort) Reason {
	if e.Self != nil && e.Self(ap) {
		return ReasonSelf
	}
	inbound := op == OpBind || op == OpAccept
	switch Classify(ap.Addr()) {
	case ClassLoopback:
		if !app.LoopbackExempt {
			return ReasonLoopback
		}
		return ReasonAllowed
	case ClassPrivate:
		if !app.Capabilities.Has(PrivateNetworkClientServer) {
			if app.Capabilities == 0 {
				return ReasonNoCapability
			}
			return ReasonPrivate
		}
		return ReasonAllowed
	case ClassInternet:
		need := InternetClient
		if inbound {
			need = InternetClientServer
		}
		if app.Capabilities&(need|InternetClientServer) == 0 {
			return ReasonNoCapability
		}
		return ReasonAllowed
	}
	return ReasonNotUnicast
}
