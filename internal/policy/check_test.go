package policy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Address categories of the hostile-destination table.
type category int

const (
	catInternet category = iota // the allowed control
	catLoopback
	catPrivate
	catSpecial
	catMetadata
	catInvalid
)

func (c category) String() string {
	return [...]string{"internet", "loopback", "private", "special", "metadata", "invalid"}[c]
}

// destinations are hostile (and control) host strings, as a client would send
// them, by category. None is ever dialed: Check on an IP literal resolves
// nothing.
var destinations = map[category][]string{
	catInternet: {
		"8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "[2001:4860:4860::8888]",
		"::ffff:8.8.8.8", "[::ffff:808:808]",
		"64:ff9b::808:808",                     // NAT64 of 8.8.8.8
		"2002:808:808::1",                      // 6to4 of 8.8.8.8
		"2001:0:4136:e378:8000:63bf:f7f7:f7f7", // Teredo, client 8.8.8.8
		"223.255.255.255", "100.63.255.255", "100.128.0.0", "172.32.0.1", "192.169.0.1", "198.17.255.255",
	},
	catLoopback: {
		"127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "[::1]", "0:0:0:0:0:0:0:1",
		"::ffff:127.0.0.1", "[::ffff:7f00:1]", "::FFFF:127.0.0.1",
		"64:ff9b::7f00:1",                      // NAT64 of 127.0.0.1
		"2002:7f00:1::",                        // 6to4 of 127.0.0.1
		"2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo, client 127.0.0.1
		"64:ff9b:1:7f7f:7f:7f7f:7f00:1",        // local-use NAT64: loopback under every prefix length
	},
	catPrivate: {
		"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254", "192.168.0.1", "192.168.255.255",
		"169.254.0.1", "169.254.168.254", "169.254.171.1", // link-local, next to the metadata blocks
		"fe80::1", "[fe80::abcd]", "fd00::1", "fc00::1", "fd12:3456:789a::1", "fec0::1",
		"::ffff:10.0.0.1", "::ffff:192.168.1.1",
		"64:ff9b::a00:1",                       // NAT64 of 10.0.0.1
		"2002:c0a8:101::1",                     // 6to4 of 192.168.1.1
		"2001:0:4136:e378:8000:63bf:f5ff:fffe", // Teredo, client 10.0.0.1
		"fd00:ec3::254",                        // ULA next to AWS's metadata block
	},
	catSpecial: {
		"0.0.0.0", "0.1.2.3", "::", "[::]", "::ffff:0.0.0.0", "255.255.255.255", "240.0.0.1",
		"224.0.0.1", "239.255.255.250", "ff02::1", "ff05::1:3", "ff0e::1",
		"192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::1", "3fff::1", // documentation
		"198.18.0.1", "198.19.255.255", "2001:2::1", // benchmarking
		"100.64.0.1", "100.127.255.254", // CGNAT
		"192.0.0.8", "192.0.0.170", "192.88.99.1", "100::1", "100:0:0:1::1", "2001:10::1",
		"::7f00:1", "::ffff:0:7f00:1", "::2", "4000::1", "e000::1", "5f00::1", // IPv4-compatible, -translated, unallocated
		"64:ff9b::e000:1", "2002:e000:1::1", "64:ff9b::c000:201", // NAT64/6to4 of multicast and documentation
		"64:ff9b:1::808:808",                   // local-use NAT64: depends on the prefix length
		"2001:0:4136:e378:8000:63bf:ffff:ffff", // Teredo, client 0.0.0.0
	},
	catMetadata: {
		"169.254.169.254", "169.254.169.253", "169.254.169.123", "169.254.170.2", "169.254.170.23",
		"100.100.100.200", "168.63.129.16", "192.0.0.192",
		"fd00:ec2::254", "[fd00:ec2::254]", "fd00:ec2::23", "fd20:ce::254",
		"::ffff:169.254.169.254", "[::ffff:a9fe:a9fe]",
		"64:ff9b::a9fe:a9fe",                   // NAT64
		"2002:a9fe:a9fe::1",                    // 6to4
		"2001:0:4136:e378:8000:63bf:5601:5601", // Teredo, client 169.254.169.254
	},
	catInvalid: {
		"", "2130706433", "0177.0.0.1", "0x7f.1", "0x7f.0.0.1", "0X7F.0.0.1", "127.1", "127.0.1",
		"0x7f000001", "017700000001", "127.0.0.01", "127.000.000.001", "0177.1", "127.0.0.1.", "127.0.0.0x1",
		"0x", "1.2.3.4.5", "10.0.0.1.", "3232235777", "0xa9.0xfe.0xa9.0xfe", "169.254.43518",
		"１２７.０.０.１", "127。0。0。1", "①②⑦.0.0.1", "127．0．0．1",
		"fe80::1%eth0", "[fe80::1%25eth0]", "[fe80::1%eth0]", "[127.0.0.1]", "[::1", "::1]", "[[::1]]",
		"[localhost]", "localhost:80", "127.0.0.1:80", "::1::2",
		"a..b", ".example.com", "example..com", "example.com..", strings.Repeat("a", 64) + ".com",
		strings.Repeat("a.", 127) + "com", strings.Repeat("x", MaxHostInput+1),
		"exa mple.com", "user@example.com", "example.com/path", "example.com\\x", "example.com#x",
		"example.com?x", "example.com\x00.evil", "\x00", "ex\nample.com", "ex\tample.com", "-bad.com", "bad-.com",
		"\xff\xfe", "xn--", "xn--a.com", "a\u200db.com", "example.com%00",
	},
}

type capSet struct {
	name string
	app  App
}

var capSets = []capSet{
	{"none", App{ID: "none"}},
	{"none+exempt", App{ID: "none+exempt", LoopbackExempt: true}},
	{"internetClient", App{ID: "ic", Capabilities: InternetClient}},
	{"internetClientServer", App{ID: "ics", Capabilities: InternetClientServer}},
	{"privateNetworkClientServer", App{ID: "pncs", Capabilities: PrivateNetworkClientServer}},
	{"internetClient+exempt", App{ID: "ic+lo", Capabilities: InternetClient, LoopbackExempt: true}},
	{"client+private", App{ID: "ic+pncs", Capabilities: InternetClient | PrivateNetworkClientServer}},
	{"all", App{ID: "all", Capabilities: AllCapabilities}},
	{"all+exempt", App{ID: "all+lo", Capabilities: AllCapabilities, LoopbackExempt: true}},
}

var allOps = []Op{OpConnect, OpDatagram, OpICE, OpBind, OpAccept}

// wantAllowed is the policy written as plainly as possible, independent of
// the implementation: the table's oracle.
func wantAllowed(app App, op Op, host string, c category) bool {
	if app.Capabilities == 0 {
		return false
	}
	if _, a, err := Normalize(host); err == nil && a.IsUnspecified() && op == OpBind {
		return app.Capabilities.Has(InternetClientServer) // bind to every interface
	}
	switch c {
	case catInternet:
		if op == OpBind || op == OpAccept {
			return app.Capabilities.Has(InternetClientServer)
		}
		return app.Capabilities.Has(InternetClient) || app.Capabilities.Has(InternetClientServer)
	case catLoopback:
		return app.LoopbackExempt
	case catPrivate:
		return app.Capabilities.Has(PrivateNetworkClientServer)
	}
	return false
}

func TestHostileDestinations(t *testing.T) {
	t.Parallel()
	for c, hosts := range destinations {
		for _, cs := range capSets {
			t.Run(c.String()+"/"+cs.name, func(t *testing.T) {
				t.Parallel()
				e := &Engine{Resolver: noDNS{t}}
				for _, host := range hosts {
					for _, op := range allOps {
						app := cs.app
						_, err := e.Check(context.Background(), &app, op, host, 443)
						want := wantAllowed(app, op, host, c)
						if (err == nil) != want {
							t.Errorf("Check(%s, %s, %q) = %v, want allowed=%v", cs.name, op, host, err, want)
							continue
						}
						if err == nil {
							continue
						}
						var pe *Error
						if !errors.As(err, &pe) {
							t.Errorf("Check(%q) error %T is not *Error", host, err)
							continue
						}
						if errors.Is(err, ErrHostNotFound) {
							t.Errorf("Check(%q) = %v: an IP literal is never not-found", host, err)
						}
						wantErr := ErrDenied
						if c == catInvalid && app.Capabilities != 0 {
							wantErr = ErrInvalid
						}
						if !errors.Is(err, wantErr) {
							t.Errorf("Check(%s, %s, %q) = %v, want errors.Is %v", cs.name, op, host, err, wantErr)
						}
					}
				}
			})
		}
	}
}

// TestHostileReasons pins the reason for an internetClient app, and that the
// same address also fails CheckAddr, which the relay uses per datagram.
func TestHostileReasons(t *testing.T) {
	t.Parallel()
	want := map[category]Reason{
		catInternet: ReasonAllowed, catLoopback: ReasonLoopback, catPrivate: ReasonPrivate,
		catSpecial: ReasonNotUnicast, catMetadata: ReasonMetadata, catInvalid: ReasonBadHost,
	}
	e := &Engine{Resolver: noDNS{t}}
	app := &App{ID: "ic", Capabilities: InternetClient}
	for c, hosts := range destinations {
		for _, host := range hosts {
			_, err := e.Check(context.Background(), app, OpConnect, host, 443)
			if got := reasonOf(err); got != want[c] {
				t.Errorf("Check(%q) reason %v, want %v (%v)", host, got, want[c], err)
			}
			_, a, nerr := Normalize(host)
			if nerr != nil {
				continue
			}
			if got := reasonOf(e.CheckAddr(app, OpDatagram, netip.AddrPortFrom(a, 443))); got != want[c] {
				t.Errorf("CheckAddr(%v) reason %v, want %v", a, got, want[c])
			}
		}
	}
}

func reasonOf(err error) Reason {
	if err == nil {
		return ReasonAllowed
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ReasonUnknown
}

func TestPortsAndOps(t *testing.T) {
	t.Parallel()
	ic := &App{ID: "ic", Capabilities: InternetClient}
	ics := &App{ID: "ics", Capabilities: InternetClientServer}
	pncs := &App{ID: "pncs", Capabilities: PrivateNetworkClientServer}
	lo := &App{ID: "lo", Capabilities: InternetClient, LoopbackExempt: true}
	rules := PortRules{Allow: []PortRange{{25, 25}, {80, 80}, {443, 443}, {8000, 8100}}, Deny: []PortRange{{8080, 8080}}}
	tests := []struct {
		name  string
		e     Engine
		app   *App
		op    Op
		host  string
		port  uint16
		want  Reason
		isErr error
	}{
		{"public 443", Engine{}, ic, OpConnect, "8.8.8.8", 443, ReasonAllowed, nil},
		{"smtp denied by default", Engine{}, ic, OpConnect, "8.8.8.8", 25, ReasonPortDenied, ErrDenied},
		{"smtp datagram denied by default", Engine{}, ic, OpDatagram, "8.8.8.8", 25, ReasonPortDenied, ErrDenied},
		{"port 0 connect", Engine{}, ic, OpConnect, "8.8.8.8", 0, ReasonBadPort, ErrInvalid},
		{"port 0 datagram", Engine{}, ic, OpDatagram, "8.8.8.8", 0, ReasonBadPort, ErrInvalid},
		{"port 0 ice", Engine{}, ic, OpICE, "8.8.8.8", 0, ReasonBadPort, ErrInvalid},
		{"port 0 bind any", Engine{}, ics, OpBind, "0.0.0.0", 0, ReasonAllowed, nil},
		{"port 25 bind", Engine{}, ics, OpBind, "::", 25, ReasonAllowed, nil},
		{"bind any needs internetClientServer", Engine{}, ic, OpBind, "0.0.0.0", 8080, ReasonNoCapability, ErrDenied},
		{"bind any v6 needs internetClientServer", Engine{}, pncs, OpBind, "::", 8080, ReasonNoCapability, ErrDenied},
		{"bind private", Engine{}, pncs, OpBind, "192.168.1.10", 8080, ReasonAllowed, nil},
		{"bind loopback exempt", Engine{}, lo, OpBind, "127.0.0.1", 0, ReasonAllowed, nil},
		{"bind loopback not exempt", Engine{}, ics, OpBind, "127.0.0.1", 0, ReasonLoopback, ErrDenied},
		{"bind multicast", Engine{}, &App{Capabilities: AllCapabilities}, OpBind, "224.0.0.251", 5353, ReasonNotUnicast, ErrDenied},
		{"accept internet peer without server", Engine{}, ic, OpAccept, "8.8.8.8", 50000, ReasonNoCapability, ErrDenied},
		{"accept internet peer", Engine{}, ics, OpAccept, "8.8.8.8", 50000, ReasonAllowed, nil},
		{"accept port 0 peer", Engine{}, ics, OpAccept, "8.8.8.8", 0, ReasonAllowed, nil},
		{"unknown op", Engine{}, ic, OpUnknown, "8.8.8.8", 443, ReasonBadOp, ErrDenied},
		{"op out of range", Engine{}, ic, Op(200), "8.8.8.8", 443, ReasonBadOp, ErrDenied},
		{"no app", Engine{}, nil, OpConnect, "8.8.8.8", 443, ReasonNoApp, ErrDenied},
		{"unknown capability bits", Engine{}, &App{Capabilities: 0x80}, OpConnect, "8.8.8.8", 443, ReasonNoCapability, ErrDenied},
		{"allow list: 25 allowed explicitly", Engine{Ports: rules}, ic, OpConnect, "8.8.8.8", 25, ReasonAllowed, nil},
		{"allow list: 443", Engine{Ports: rules}, ic, OpConnect, "8.8.8.8", 443, ReasonAllowed, nil},
		{"allow list: 8001", Engine{Ports: rules}, ic, OpConnect, "8.8.8.8", 8001, ReasonAllowed, nil},
		{"allow list: 22 not listed", Engine{Ports: rules}, ic, OpConnect, "8.8.8.8", 22, ReasonPortDenied, ErrDenied},
		{"deny beats allow", Engine{Ports: rules}, ic, OpConnect, "8.8.8.8", 8080, ReasonPortDenied, ErrDenied},
		{"deny only", Engine{Ports: PortRules{Deny: []PortRange{{1, 1023}}}}, ic, OpConnect, "8.8.8.8", 443, ReasonPortDenied, ErrDenied},
		{"deny only, other port", Engine{Ports: PortRules{Deny: []PortRange{{1, 1023}}}}, ic, OpConnect, "8.8.8.8", 8443, ReasonAllowed, nil},
		{"port rules before capability", Engine{}, &App{Capabilities: InternetClient}, OpConnect, "10.0.0.1", 25, ReasonPortDenied, ErrDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := tt.e
			e.Resolver = noDNS{t}
			tgt, err := e.Check(context.Background(), tt.app, tt.op, tt.host, tt.port)
			if got := reasonOf(err); got != tt.want {
				t.Fatalf("Check = %v (%v), want %v", got, err, tt.want)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Fatalf("Check error %v, want errors.Is %v", err, tt.isErr)
			}
			if err == nil && (len(tgt.Addrs) != 1 || tgt.Port != tt.port) {
				t.Fatalf("Target %+v", tgt)
			}
			a, _ := netip.ParseAddr(tt.host)
			if got := reasonOf(e.CheckAddr(tt.app, tt.op, netip.AddrPortFrom(a, tt.port))); got != tt.want {
				t.Fatalf("CheckAddr = %v, want %v", got, tt.want)
			}
		})
	}
}

func dnsTable(t *testing.T) *fakeResolver {
	return &fakeResolver{
		t: t,
		answers: map[string][]string{
			"pub.test":           {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
			"dup.test":           {"93.184.215.14", "::ffff:93.184.215.14", "93.184.215.14"},
			"loop.test":          {"127.0.0.1"},
			"loop6.test":         {"::1"},
			"mapped.test":        {"::ffff:127.0.0.1"},
			"priv.test":          {"10.1.2.3"},
			"privs.test":         {"10.1.2.3", "192.168.0.9"},
			"ll.test":            {"169.254.10.10"},
			"ula.test":           {"fd00::1"},
			"meta.test":          {"169.254.169.254"},
			"meta6.test":         {"fd00:ec2::254"},
			"nat64lo.test":       {"64:ff9b::7f00:1"},
			"teredo.test":        {"2001:0:4136:e378:8000:63bf:f5ff:fffe"},
			"zero.test":          {"0.0.0.0"},
			"mcast.test":         {"239.1.1.1"},
			"zone.test":          {"fe80::1%eth0"},
			"mixed.test":         {"93.184.215.14", "10.0.0.1"},
			"mixed2.test":        {"10.0.0.1", "93.184.215.14"},
			"mixedlo.test":       {"2606:4700:4700::1111", "::1"},
			"mixedmd.test":       {"93.184.215.14", "169.254.169.254"},
			"empty.test":         {},
			"xn--bcher-kva.test": {"93.184.215.14"},
		},
		errs: map[string]error{
			"servfail.test":   &net.DNSError{Err: "server misbehaving", Name: "servfail.test", IsTemporary: true},
			"dnstimeout.test": &net.DNSError{Err: "i/o timeout", Name: "dnstimeout.test", IsTimeout: true},
			"weird.test":      errors.New("resolver exploded"),
		},
		block: map[string]bool{"slow.test": true},
	}
}

func TestDNSDerived(t *testing.T) {
	t.Parallel()
	ic := &App{ID: "ic", Capabilities: InternetClient}
	icLo := &App{ID: "ic+lo", Capabilities: InternetClient, LoopbackExempt: true}
	all := &App{ID: "all+lo", Capabilities: AllCapabilities, LoopbackExempt: true}
	pncs := &App{ID: "pncs", Capabilities: PrivateNetworkClientServer}
	tests := []struct {
		app   *App
		host  string
		want  Reason
		isErr error
		addrs int
	}{
		{ic, "pub.test", ReasonAllowed, nil, 2},
		{ic, "PUB.Test.", ReasonAllowed, nil, 2},
		{ic, "dup.test", ReasonAllowed, nil, 1},
		{ic, "bücher.test", ReasonAllowed, nil, 1},
		{ic, "loop.test", ReasonLoopback, ErrDenied, 0},
		{ic, "loop6.test", ReasonLoopback, ErrDenied, 0},
		{ic, "mapped.test", ReasonLoopback, ErrDenied, 0},
		{ic, "nat64lo.test", ReasonLoopback, ErrDenied, 0},
		{icLo, "loop.test", ReasonAllowed, nil, 1},
		{icLo, "mapped.test", ReasonAllowed, nil, 1},
		{ic, "priv.test", ReasonPrivate, ErrDenied, 0},
		{ic, "privs.test", ReasonPrivate, ErrDenied, 0},
		{ic, "ll.test", ReasonPrivate, ErrDenied, 0},
		{ic, "ula.test", ReasonPrivate, ErrDenied, 0},
		{ic, "teredo.test", ReasonPrivate, ErrDenied, 0},
		{pncs, "priv.test", ReasonAllowed, nil, 1},
		{pncs, "pub.test", ReasonNoCapability, ErrDenied, 0},
		{all, "meta.test", ReasonMetadata, ErrDenied, 0},
		{all, "meta6.test", ReasonMetadata, ErrDenied, 0},
		{all, "zero.test", ReasonNotUnicast, ErrDenied, 0},
		{all, "mcast.test", ReasonNotUnicast, ErrDenied, 0},
		{all, "zone.test", ReasonNotUnicast, ErrDenied, 0},
		{ic, "mixed.test", ReasonMixedAnswers, ErrDenied, 0},
		{ic, "mixed2.test", ReasonMixedAnswers, ErrDenied, 0},
		{ic, "mixedlo.test", ReasonMixedAnswers, ErrDenied, 0},
		{all, "mixedmd.test", ReasonMixedAnswers, ErrDenied, 0},
		{all, "mixed.test", ReasonAllowed, nil, 2},
		// Fail closed, and reveal nothing to an app that cannot reach private space.
		{ic, "nx.test", ReasonHostNotFound, ErrDenied, 0},
		{ic, "empty.test", ReasonHostNotFound, ErrDenied, 0},
		{icLo, "nx.test", ReasonHostNotFound, ErrDenied, 0},
		{pncs, "nx.test", ReasonHostNotFound, ErrDenied, 0},
		{all, "nx.test", ReasonHostNotFound, ErrHostNotFound, 0},
		{all, "empty.test", ReasonHostNotFound, ErrHostNotFound, 0},
		{ic, "slow.test", ReasonResolveTimeout, ErrDenied, 0},
		{all, "slow.test", ReasonResolveTimeout, ErrDenied, 0},
		{ic, "dnstimeout.test", ReasonResolveTimeout, ErrDenied, 0},
		{ic, "servfail.test", ReasonResolveFailed, ErrDenied, 0},
		{all, "weird.test", ReasonResolveFailed, ErrDenied, 0},
	}
	for _, tt := range tests {
		t.Run(tt.app.ID+"/"+tt.host, func(t *testing.T) {
			t.Parallel()
			e := &Engine{Resolver: dnsTable(t), ResolveTimeout: 50 * time.Millisecond}
			tgt, err := e.Check(context.Background(), tt.app, OpConnect, tt.host, 443)
			if got := reasonOf(err); got != tt.want {
				t.Fatalf("Check = %v (%v), want %v", got, err, tt.want)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Fatalf("Check error %v, want errors.Is %v", err, tt.isErr)
			}
			if len(tgt.Addrs) != tt.addrs {
				t.Fatalf("Target.Addrs = %v, want %d", tgt.Addrs, tt.addrs)
			}
			for _, a := range tgt.Addrs {
				if a.Is4In6() {
					t.Errorf("Target address %v not unmapped", a)
				}
			}
			if err != nil {
				for _, leak := range []string{"10.", "127.", "169.254", "fd00", "::1", "93.184"} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error %q reveals a resolved address", err)
					}
				}
			}
		})
	}
}

// TestDNSConcealment: for an app without privateNetworkClientServer, a name
// that does not exist, one that times out and one that resolves to private
// space, loopback or metadata must be indistinguishable in the error.
func TestDNSConcealment(t *testing.T) {
	t.Parallel()
	e := &Engine{Resolver: dnsTable(t), ResolveTimeout: 20 * time.Millisecond}
	for _, app := range []*App{
		{ID: "ic", Capabilities: InternetClient},
		{ID: "ic+lo", Capabilities: InternetClient, LoopbackExempt: true},
		{ID: "pncs", Capabilities: PrivateNetworkClientServer},
	} {
		seen := map[string]string{}
		for _, host := range []string{"nx.test", "empty.test", "slow.test", "servfail.test", "priv.test", "loop.test", "meta.test", "mixed.test", "ll.test", "pub.test", "priv.test"} {
			_, err := e.Check(context.Background(), app, OpConnect, host, 443)
			if err == nil {
				if host == "pub.test" || app.Capabilities.Has(PrivateNetworkClientServer) || app.LoopbackExempt {
					continue
				}
				t.Fatalf("%s: Check(%s) allowed", app.ID, host)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("%s: Check(%s): Timeout() reveals the resolution outcome", app.ID, host)
			}
			if !errors.Is(err, ErrHostNotFound) || !errors.Is(err, ErrDenied) {
				t.Errorf("%s: Check(%s) = %v, want ErrHostNotFound and ErrDenied alike", app.ID, host, err)
			}
			seen[strings.Replace(err.Error(), host, "HOST", 1)] = host
		}
		if len(seen) != 1 {
			t.Errorf("%s: errors differ by outcome: %v", app.ID, seen)
		}
	}
	// A literal reveals nothing, so its reason shows.
	_, err := e.Check(context.Background(), &App{Capabilities: InternetClient}, OpConnect, "10.0.0.1", 443)
	if !strings.Contains(err.Error(), ReasonPrivate.String()) {
		t.Errorf("literal denial %q hides its reason", err)
	}
	// With full reach, not-found and timeout tell the truth.
	all := &App{Capabilities: AllCapabilities, LoopbackExempt: true}
	if _, err := e.Check(context.Background(), all, OpConnect, "slow.test", 443); !err.(net.Error).Timeout() {
		t.Errorf("Check(slow.test) = %v, want Timeout()", err)
	}
}

func TestNameRules(t *testing.T) {
	t.Parallel()
	ic := &App{ID: "ic", Capabilities: InternetClient}
	all := &App{ID: "all", Capabilities: AllCapabilities, LoopbackExempt: true}
	tests := []struct {
		app  *App
		host string
		want Reason
	}{
		{ic, "localhost", ReasonLoopback},
		{ic, "LOCALHOST.", ReasonLoopback},
		{ic, "foo.localhost", ReasonLoopback},
		{ic, "ｌｏｃａｌｈｏｓｔ", ReasonLoopback},
		{all, "metadata.google.internal", ReasonMetadata},
		{all, "Metadata.Google.Internal.", ReasonMetadata},
		{all, "metadata", ReasonMetadata},
		{all, "instance-data.ec2.internal", ReasonMetadata},
		{all, "corp.example", ReasonNameDenied},
		{all, "db.Corp.Example", ReasonNameDenied},
		{all, "evil.test", ReasonNameDenied},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			e := &Engine{Resolver: noDNS{t}, DenyNames: []string{"Corp.Example.", "evil.test"}}
			_, err := e.Check(context.Background(), tt.app, OpConnect, tt.host, 443)
			if got := reasonOf(err); got != tt.want {
				t.Fatalf("Check(%q) = %v (%v), want %v", tt.host, got, err, tt.want)
			}
		})
	}
	r := dnsTable(t)
	r.answers["notcorp.example"] = []string{"93.184.215.14"}
	e := &Engine{Resolver: r, DenyNames: []string{"corp.example"}}
	if _, err := e.Check(context.Background(), ic, OpConnect, "notcorp.example", 443); err != nil {
		t.Errorf("DenyNames matched a mere suffix: %v", err)
	}
	e = &Engine{Resolver: noDNS{t}}
	for _, h := range []string{"localhost", "a.b.localhost."} {
		tgt, err := e.Check(context.Background(), all, OpConnect, h, 443)
		if err != nil || len(tgt.Addrs) != 2 || !tgt.Addrs[0].IsLoopback() || !tgt.Addrs[1].IsLoopback() {
			t.Errorf("exempt app: Check(%s) = %+v, %v", h, tgt, err)
		}
	}
}

func TestSelf(t *testing.T) {
	t.Parallel()
	var self SelfSet
	self.Add(netip.MustParseAddrPort("0.0.0.0:8080"))
	self.Add(netip.MustParseAddrPort("[::1]:9090"))
	self.Add(netip.MustParseAddrPort("93.184.215.14:443")) // a NAT front end
	e := &Engine{Resolver: noDNS{t}, Self: self.Contains}
	app := &App{ID: "all", Capabilities: AllCapabilities, LoopbackExempt: true}
	for _, tt := range []struct {
		host string
		port uint16
		want Reason
	}{
		{"127.0.0.1", 8080, ReasonSelf},
		{"127.9.9.9", 8080, ReasonSelf},
		{"::1", 8080, ReasonSelf},
		{"::ffff:127.0.0.1", 8080, ReasonSelf},
		{"::1", 9090, ReasonSelf},
		{"127.0.0.1", 9090, ReasonAllowed}, // that listener is on ::1 only
		{"127.0.0.1", 8081, ReasonAllowed},
		{"93.184.215.14", 443, ReasonSelf},
		{"::ffff:93.184.215.14", 443, ReasonSelf},
		{"93.184.215.14", 80, ReasonAllowed},
		{"8.8.8.8", 8080, ReasonAllowed},
	} {
		_, err := e.Check(context.Background(), app, OpConnect, tt.host, tt.port)
		if got := reasonOf(err); got != tt.want {
			t.Errorf("Check(%s:%d) = %v, want %v", tt.host, tt.port, got, tt.want)
		}
	}
	for _, a := range interfaceAddrs() {
		if !self.Contains(netip.AddrPortFrom(a, 8080)) {
			t.Errorf("interface address %v:8080 not self behind a 0.0.0.0 listener", a)
		}
	}
	if !self.Contains(netip.MustParseAddrPort("[::]:8080")) {
		t.Error("unspecified destination on the listener's port is not self")
	}
	self.Remove(netip.MustParseAddrPort("0.0.0.0:8080"))
	if self.Contains(netip.MustParseAddrPort("127.0.0.1:8080")) {
		t.Error("Remove left the listener in place")
	}
}

func TestOnDecisionAndCounters(t *testing.T) {
	t.Parallel()
	var c Counters
	var got []Decision
	e := &Engine{Resolver: dnsTable(t), OnDecision: func(d Decision) { c.Record(d); got = append(got, d) }}
	app := &App{ID: "ic", Capabilities: InternetClient}
	e.Check(context.Background(), app, OpConnect, "pub.test", 443)
	e.Check(context.Background(), app, OpConnect, "priv.test", 443)
	e.Check(context.Background(), app, OpConnect, "nx.test", 443)
	e.Check(context.Background(), app, OpConnect, "0x7f.1", 443)
	e.CheckAddr(app, OpDatagram, netip.MustParseAddrPort("10.0.0.1:53"))
	e.CheckAddr(app, OpDatagram, netip.MustParseAddrPort("8.8.8.8:53"))
	if len(got) != 6 {
		t.Fatalf("OnDecision called %d times, want once per check (6): %v", len(got), got)
	}
	for r, n := range map[Reason]uint64{ReasonAllowed: 2, ReasonPrivate: 2, ReasonHostNotFound: 1, ReasonBadHost: 1, ReasonLoopback: 0} {
		if c.Load(r) != n {
			t.Errorf("Counters.Load(%v) = %d, want %d", r, c.Load(r), n)
		}
	}
	if d := got[1]; d.App != "ic" || d.Op != OpConnect || d.Host != "priv.test" || d.Port != 443 || d.Addr != netip.MustParseAddr("10.1.2.3") || d.Allowed() {
		t.Errorf("decision %+v", d)
	}
	if d := got[0]; !d.Allowed() || d.Addr != netip.MustParseAddr("93.184.215.14") {
		t.Errorf("decision %+v", d)
	}
	if s := fmt.Sprint(got[1].LogValue()); !strings.Contains(s, "private_network") {
		t.Errorf("LogValue %s", s)
	}
}

func TestReasonStrings(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range Reasons() {
		s := r.String()
		if s == "" || strings.HasPrefix(s, "Reason(") || seen[s] {
			t.Errorf("Reason %d has name %q", r, s)
		}
		seen[s] = true
	}
	if s := Reason(250).String(); s != "Reason(250)" {
		t.Errorf("out of range reason prints %q", s)
	}
}

func TestErrorQuotesHostileHost(t *testing.T) {
	t.Parallel()
	e := &Engine{Resolver: noDNS{t}}
	host := "evil\nlevel=ERROR msg=forged" + strings.Repeat("x", 500)
	_, err := e.Check(context.Background(), &App{Capabilities: InternetClient}, OpConnect, host, 80)
	if s := err.Error(); strings.Contains(s, "\n") || len(s) > 200 {
		t.Errorf("error message not sanitised: %q", s)
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"internetClient", "internetClientServer", "privateNetworkClientServer"} {
		c, err := ParseCapability(n)
		if err != nil || c.String() != n {
			t.Errorf("ParseCapability(%q) = %v, %v", n, c, err)
		}
	}
	if _, err := ParseCapability("internetclient"); err == nil {
		t.Error("ParseCapability is case-insensitive")
	}
	if s := AllCapabilities.String(); s != "internetClient|internetClientServer|privateNetworkClientServer" {
		t.Errorf("AllCapabilities = %s", s)
	}
	if s := Capabilities(0).String(); s != "none" {
		t.Errorf("zero = %s", s)
	}
}

func TestNAT64PrefixesAndAcceptZone(t *testing.T) {
	t.Parallel()
	e := &Engine{Resolver: noDNS{t}, NAT64Prefixes: []netip.Prefix{
		netip.MustParsePrefix("2600:1f00:64::/96"),
		netip.MustParsePrefix("2600:1f00:aa00::/48"),
		netip.MustParsePrefix("2600:1f00:bb00::/60"), // not an RFC 6052 length
	}}
	ic := &App{ID: "ic", Capabilities: InternetClient}
	for _, tt := range []struct {
		host string
		want Reason
	}{
		{"2600:1f00:64::a00:1", ReasonPrivate},        // 10.0.0.1
		{"2600:1f00:64::a9fe:a9fe", ReasonMetadata},   // 169.254.169.254
		{"2600:1f00:64::808:808", ReasonAllowed},      // 8.8.8.8
		{"2600:1f00:aa00:7f00:1::", ReasonLoopback},   // /48: 127.0 | u | 1.0
		{"2600:1f00:aa00:808:8:800::", ReasonAllowed}, // /48: 8.8 | u | 8.8
		{"2600:1f00:bb00::808:808", ReasonNotUnicast}, // bad length: special
		{"2600:1f00:65::a00:1", ReasonAllowed},        // outside the prefixes: plain IPv6
	} {
		_, err := e.Check(context.Background(), ic, OpConnect, tt.host, 443)
		if got := reasonOf(err); got != tt.want {
			t.Errorf("Check(%s) = %v (%v), want %v", tt.host, got, err, tt.want)
		}
	}
	pncs := &App{ID: "pncs", Capabilities: PrivateNetworkClientServer}
	peer := netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth0"), 50000)
	if err := e.CheckAddr(pncs, OpAccept, peer); err != nil {
		t.Errorf("accepted link-local peer with a kernel zone: %v", err)
	}
	if err := e.CheckAddr(pncs, OpDatagram, peer); reasonOf(err) != ReasonNotUnicast {
		t.Errorf("datagram to a zoned address: %v", err)
	}
}
