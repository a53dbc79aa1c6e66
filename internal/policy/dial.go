package policy

import (
	"context"
	"net"
	"net/netip"
	"syscall"
)

// Control returns a function for net.Dialer.ControlContext that runs
// CheckAddr(app, op, address) on every socket before it connects: the second
// gate behind Check, so that a dial of anything but a checked IP literal (a
// bug, a re-resolved name, a tampered Target) fails with an *Error instead of
// sending a packet. Only gate denials are reported to OnDecision.
//
// For a UDP socket that sends with WriteTo, the gate sees only the bind; check
// each datagram's destination with CheckAddr.
func (e *Engine) Control(app *App, op Op) func(ctx context.Context, network, address string, c syscall.RawConn) error {
	return func(_ context.Context, network, address string, _ syscall.RawConn) error {
		return e.gate(app, op, network, address)
	}
}

func (e *Engine) gate(app *App, op Op, network, address string) error {
	ap, err := netip.ParseAddrPort(address)
	d := Decision{Op: op, Host: address, Gate: true}
	if app != nil {
		d.App = app.ID
	}
	switch {
	case !ipNetwork(network):
		d.Reason = ReasonBadOp
	case err != nil:
		d.Reason = ReasonBadHost
	default:
		d = e.decide(app, op, ap)
		d.Gate = true
	}
	if d.Reason == ReasonAllowed {
		return nil
	}
	e.report(d)
	return &Error{Op: op, Reason: d.Reason, Host: d.Host, Port: d.Port}
}

func ipNetwork(network string) bool {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		return true
	}
	return false
}

// DialTarget connects over network ("tcp" or "udp", optionally with 4 or 6)
// to the first of t.Addrs that answers, at t.Port, never resolving anything:
// t must come from Check(ctx, app, op, ...). Every address is checked again
// before the dial and, through Control, on the socket itself. Addresses are
// tried one at a time (DialTargetAttempts with Serial).
//
// d supplies timeouts and options; nil means a zero net.Dialer. It is copied,
// never modified; its Control or ControlContext still runs, after the gate.
// The error is the last dial error, or an *Error for a denied address.
func (e *Engine) DialTarget(ctx context.Context, d *net.Dialer, app *App, op Op, network string, t Target) (net.Conn, error) {
	return e.DialTargetAttempts(ctx, d, app, op, network, t, DialAttempts{Serial: true})
}

// DialTargetAttempts is DialTarget trying t's addresses as a says: one at a
// time, or overlapping (Happy Eyeballs).
func (e *Engine) DialTargetAttempts(ctx context.Context, d *net.Dialer, app *App, op Op, network string, t Target, a DialAttempts) (net.Conn, error) {
	if !ipNetwork(network) {
		return nil, &Error{Op: op, Reason: ReasonBadOp, Host: t.Host, Port: t.Port}
	}
	if len(t.Addrs) == 0 {
		return nil, &Error{Op: op, Reason: ReasonHostNotFound, Host: t.Host, Port: t.Port}
	}
	var dd net.Dialer
	if d != nil {
		dd = *d
	}
	next, nextPlain := dd.ControlContext, dd.Control
	gate := e.Control(app, op)
	dd.Control = nil
	dd.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := gate(ctx, network, address, c); err != nil {
			return err
		}
		switch {
		case next != nil:
			return next(ctx, network, address, c)
		case nextPlain != nil:
			return nextPlain(network, address, c)
		}
		return nil
	}
	addrs := make([]netip.AddrPort, len(t.Addrs))
	for i, a := range t.Addrs {
		addrs[i] = netip.AddrPortFrom(a, t.Port)
	}
	return DialEach(ctx, addrs, a, func(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
		if err := e.gate(app, op, network, ap.String()); err != nil {
			return nil, err
		}
		return dd.DialContext(ctx, network, ap.String())
	})
}
