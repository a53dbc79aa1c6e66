package policy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"
)

// DialAttempts says how a dial tries a target's addresses.
type DialAttempts struct {
	// Serial makes one attempt at a time, in the resolver's order, each
	// after the previous one failed (WinRT's SerializeConnectionAttempts).
	// Otherwise attempts overlap as in Happy Eyeballs (RFC 8305): the
	// address families alternate, a new attempt starts every Delay or as
	// soon as the previous one failed, and the first to connect wins; the
	// others are cancelled (or closed, had they connected too).
	Serial bool
	// Delay between the starts of overlapping attempts (RFC 8305's
	// Connection Attempt Delay); zero means 250 ms.
	Delay time.Duration
}

// DefaultAttemptDelay is DialAttempts.Delay's default: 250 ms, RFC 8305's
// recommendation.
const DefaultAttemptDelay = 250 * time.Millisecond

// DialEach connects to one of addrs with dial, as a says. An error that is
// an *Error (a denial) or a done ctx ends every attempt at once. The error
// is the last attempt's.
func DialEach(ctx context.Context, addrs []netip.AddrPort, a DialAttempts, dial func(context.Context, netip.AddrPort) (net.Conn, error)) (net.Conn, error) {
	if len(addrs) == 0 {
		return nil, errors.New("policy: no address to dial")
	}
	if a.Serial || len(addrs) == 1 {
		var last error
		for _, ap := range addrs {
			c, err := dial(ctx, ap)
			if err == nil {
				return c, nil
			}
			var pe *Error
			if errors.As(err, &pe) || ctx.Err() != nil {
				return nil, err
			}
			last = err
		}
		return nil, last
	}
	delay := a.Delay
	if delay <= 0 {
		delay = DefaultAttemptDelay
	}
	order := interleaveFamilies(addrs)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		c   net.Conn
		err error
	}
	results := make(chan result, len(order))
	next, running := 0, 0
	start := func() {
		ap := order[next]
		next++
		running++
		go func() {
			c, err := dial(actx, ap)
			results <- result{c, err}
		}()
	}
	// finish cancels the attempts still running and waits for them (a
	// cancelled dial returns at once), closing any that connected anyway.
	finish := func() {
		cancel()
		for ; running > 0; running-- {
			if r := <-results; r.c != nil {
				r.c.Close()
			}
		}
	}
	start()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var last error
	for running > 0 {
		select {
		case r := <-results:
			running--
			if r.err == nil {
				finish()
				return r.c, nil
			}
			last = r.err
			var pe *Error
			if errors.As(r.err, &pe) || ctx.Err() != nil {
				finish()
				return nil, r.err
			}
			if next < len(order) {
				start()
				timer.Reset(delay)
			}
		case <-timer.C:
			if next < len(order) {
				start()
				timer.Reset(delay)
			}
		}
	}
	return nil, last
}

// interleaveFamilies orders addrs as RFC 8305 section 4 asks: the first
// address's family first, then alternating families, each family in the
// resolver's order.
func interleaveFamilies(addrs []netip.AddrPort) []netip.AddrPort {
	first := addrs[0].Addr().Unmap().Is4()
	var same, other []netip.AddrPort
	for _, ap := range addrs {
		if ap.Addr().Unmap().Is4() == first {
			same = append(same, ap)
		} else {
			other = append(other, ap)
		}
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for i := 0; i < len(same) || i < len(other); i++ {
		if i < len(same) {
			out = append(out, same[i])
		}
		if i < len(other) {
			out = append(out, other[i])
		}
	}
	return out
}
