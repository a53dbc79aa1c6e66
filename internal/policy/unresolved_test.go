package policy

import (
	"context"
	"testing"
)

// TestUnresolvedMatchesCheckOnLiterals: for every hostile literal and
// invalid host, every capability set and every op, the edge's check without
// DNS decides exactly as Check does.
func TestUnresolvedMatchesCheckOnLiterals(t *testing.T) {
	t.Parallel()
	e := &Engine{Resolver: noDNS{t}}
	for _, hosts := range destinations {
		for _, cs := range capSets {
			for _, host := range hosts {
				for _, op := range allOps {
					app := cs.app
					_, cerr := e.Check(context.Background(), &app, op, host, 443)
					_, uerr := e.CheckUnresolved(&app, op, host, 443)
					if reasonOf(cerr) != reasonOf(uerr) {
						t.Errorf("%s %s %q: CheckUnresolved %v, Check %v", cs.name, op, host, uerr, cerr)
					}
				}
			}
		}
	}
}

func TestUnresolvedNames(t *testing.T) {
	t.Parallel()
	e := &Engine{Resolver: noDNS{t}, DenyNames: []string{"corp.example"}}
	ic := &App{ID: "ic", Capabilities: InternetClient}
	exempt := &App{ID: "lo", Capabilities: InternetClient, LoopbackExempt: true}
	private := &App{ID: "pncs", Capabilities: PrivateNetworkClientServer}
	for _, tc := range []struct {
		app   *App
		host  string
		port  uint16
		want  Reason
		addrs int // of an allowed target; 0: the name is left to the platform
	}{
		{ic, "example.com", 443, ReasonAllowed, 0},
		{ic, "EXAMPLE.com.", 443, ReasonAllowed, 0},
		{ic, "bücher.example", 443, ReasonAllowed, 0},
		{ic, "example.com", 25, ReasonPortDenied, 0},
		{ic, "example.com", 0, ReasonBadPort, 0},
		{ic, "localhost", 443, ReasonLoopback, 0},
		{ic, "a.b.localhost", 443, ReasonLoopback, 0},
		{ic, "LOCALHOST.", 443, ReasonLoopback, 0},
		{exempt, "localhost", 443, ReasonAllowed, 2},
		{ic, "metadata.google.internal", 80, ReasonMetadata, 0},
		{ic, "x.corp.example", 443, ReasonNameDenied, 0},
		{private, "example.com", 443, ReasonNoCapability, 0},
		{nil, "example.com", 443, ReasonNoApp, 0},
	} {
		tg, err := e.CheckUnresolved(tc.app, OpConnect, tc.host, tc.port)
		if got := reasonOf(err); got != tc.want {
			t.Errorf("CheckUnresolved(%q, %d) = %v, want %v", tc.host, tc.port, err, tc.want)
			continue
		}
		if err == nil && len(tg.Addrs) != tc.addrs {
			t.Errorf("CheckUnresolved(%q) addrs %v, want %d", tc.host, tg.Addrs, tc.addrs)
		}
	}
}
