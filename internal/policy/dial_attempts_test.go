//go:build linux

package policy_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/testutil"
)

func hungAndGood(t *testing.T) []netip.AddrPort {
	hung, live := testutil.HungAndLive(t)
	return []netip.AddrPort{hung, live}
}

// TestDialEachParallel: overlapping attempts reach the live address while
// the first one still hangs; serial attempts reach it only after the first
// one gave up.
func TestDialEachParallel(t *testing.T) {
	t.Parallel()
	addrs := hungAndGood(t)
	dial := func(timeout time.Duration) func(context.Context, netip.AddrPort) (net.Conn, error) {
		return func(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			return d.DialContext(ctx, "tcp", ap.String())
		}
	}

	// Parallel: within a deadline the hung address alone would use up.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := policy.DialEach(ctx, addrs, policy.DialAttempts{Delay: 50 * time.Millisecond}, dial(time.Minute))
	if err != nil {
		t.Fatalf("parallel attempts: %v", err)
	}
	if got := c.RemoteAddr().(*net.TCPAddr).AddrPort(); got != addrs[1] {
		t.Errorf("parallel attempts connected to %v, want %v", got, addrs[1])
	}
	c.Close()

	// Serial, with a deadline shorter than the hung attempt: the live
	// address is never tried.
	sctx, scancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer scancel()
	if c, err := policy.DialEach(sctx, addrs, policy.DialAttempts{Serial: true}, dial(time.Minute)); err == nil {
		c.Close()
		t.Fatal("serial attempts connected past a hung first address")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("serial attempts: %v, want the deadline", err)
	}

	// Serial, each attempt bounded: the second starts after the first gave up.
	start := time.Now()
	c, err = policy.DialEach(ctx, addrs, policy.DialAttempts{Serial: true}, dial(time.Second))
	if err != nil {
		t.Fatalf("serial attempts: %v", err)
	}
	c.Close()
	if el := time.Since(start); el < time.Second {
		t.Errorf("serial attempts connected after %v, before the first attempt's 1 s timeout", el)
	}
}

// TestDialEachFamilies: attempts alternate address families (RFC 8305) and
// a failure starts the next attempt at once.
func TestDialEachFamilies(t *testing.T) {
	t.Parallel()
	var tried []netip.AddrPort
	addrs := []netip.AddrPort{
		netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:1"),
		netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:1"),
	}
	refused := errors.New("refused")
	ch := make(chan netip.AddrPort, len(addrs))
	_, err := policy.DialEach(context.Background(), addrs, policy.DialAttempts{Delay: time.Hour}, func(_ context.Context, ap netip.AddrPort) (net.Conn, error) {
		ch <- ap
		return nil, refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("err %v, want the last attempt's", err)
	}
	close(ch)
	for ap := range ch {
		tried = append(tried, ap)
	}
	want := []netip.AddrPort{addrs[0], addrs[2], addrs[1], addrs[3]}
	if len(tried) != len(want) {
		t.Fatalf("tried %v, want %v", tried, want)
	}
	for i := range want {
		if tried[i] != want[i] {
			t.Fatalf("tried %v, want %v", tried, want)
		}
	}
}
