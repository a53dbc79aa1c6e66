package policy

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// fakeResolver answers from a table and counts lookups. An answer list of
// nil is NXDOMAIN; names in blockers block until the context ends; a name in
// errs fails with that error. It never touches the network.
type fakeResolver struct {
	t       *testing.T
	answers map[string][]string
	errs    map[string]error
	block   map[string]bool

	mu    sync.Mutex
	calls map[string]int
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if network != "ip" {
		r.t.Errorf("LookupNetIP network %q, want ip", network)
	}
	if strings.HasSuffix(host, ".") {
		r.t.Errorf("fake resolver got rooted name %q", host)
	}
	r.mu.Lock()
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	r.calls[host]++
	r.mu.Unlock()
	if r.block[host] {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if err := r.errs[host]; err != nil {
		return nil, err
	}
	ans, ok := r.answers[host]
	if !ok || ans == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := []netip.Addr{}
	for _, s := range ans {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

// rebindingResolver answers first with first, then always with later: the
// DNS rebinding attack.
type rebindingResolver struct {
	first, later netip.Addr
	mu           sync.Mutex
	calls        int
}

func (r *rebindingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls == 1 {
		return []netip.Addr{r.first}, nil
	}
	return []netip.Addr{r.later}, nil
}

func (r *rebindingResolver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// noDNS fails the test on any lookup: for tables of IP literals and names
// that rules must deny before resolution.
type noDNS struct{ t *testing.T }

func (r noDNS) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.t.Errorf("unexpected DNS lookup of %q", host)
	return nil, &net.DNSError{Err: "unexpected lookup", Name: host}
}
