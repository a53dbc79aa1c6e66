package policy

import (
	"errors"
	"net/netip"
	"testing"
)

func TestCheckListen(t *testing.T) {
	t.Parallel()
	rules := &ListenRules{
		Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::")},
		Ports: []PortRange{{Lo: 20000, Hi: 20100}},
	}
	server := &App{ID: "a", Capabilities: InternetClientServer | PrivateNetworkClientServer, LoopbackExempt: true}
	noLoop := &App{ID: "b", Capabilities: InternetClientServer | PrivateNetworkClientServer}
	private := &App{ID: "c", Capabilities: PrivateNetworkClientServer, LoopbackExempt: true}
	client := &App{ID: "d", Capabilities: InternetClient, LoopbackExempt: true}
	cases := []struct {
		app   *App
		rules *ListenRules
		host  string
		port  uint16
		want  Reason
		addr  string
	}{
		{server, rules, "", 0, ReasonAllowed, "127.0.0.1"},
		{server, rules, "10.0.0.1", 20050, ReasonAllowed, "10.0.0.1"},
		{server, rules, "[::]", 20000, ReasonAllowed, "::"},
		{server, rules, "::ffff:127.0.0.1", 0, ReasonAllowed, "127.0.0.1"},
		{nil, rules, "", 0, ReasonNoApp, ""},
		{server, nil, "", 0, ReasonListenNotConfigured, ""},
		{client, rules, "", 0, ReasonNoCapability, ""},
		{server, rules, "localhost", 0, ReasonBadHost, ""},
		{server, rules, "fe80::1%eth0", 0, ReasonBadHost, ""},
		{server, rules, "192.168.1.1", 0, ReasonListenAddress, ""},
		{server, rules, "", 8080, ReasonListenPort, ""},
		{noLoop, rules, "127.0.0.1", 0, ReasonLoopback, ""},
		{private, rules, "::", 20000, ReasonNoCapability, ""}, // every interface needs internetClientServer
	}
	for _, c := range cases {
		var got []Decision
		e := &Engine{OnDecision: func(d Decision) { got = append(got, d) }}
		addr, err := e.CheckListen(c.app, c.rules, c.host, c.port)
		if len(got) != 1 || got[0].Reason != c.want || got[0].Op != OpBind {
			t.Errorf("CheckListen(%v, %q, %d): decisions %+v, want one %v", c.app, c.host, c.port, got, c.want)
			continue
		}
		if c.want == ReasonAllowed {
			if err != nil || addr.String() != c.addr {
				t.Errorf("CheckListen(%q, %d) = %v, %v; want %s", c.host, c.port, addr, err, c.addr)
			}
			continue
		}
		var pe *Error
		if !errors.As(err, &pe) || pe.Reason != c.want {
			t.Errorf("CheckListen(%q, %d) error %v, want reason %v", c.host, c.port, err, c.want)
		}
		if (c.want == ReasonBadHost) != errors.Is(err, ErrInvalid) {
			t.Errorf("CheckListen(%q): errors.Is(ErrInvalid) wrong for %v", c.host, err)
		}
	}
}
