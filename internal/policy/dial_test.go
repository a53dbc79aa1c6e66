package policy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// addrRecorder is a Control func that records every address a socket was
// about to connect to: what the dial would have sent packets to.
type addrRecorder struct {
	mu    sync.Mutex
	addrs []string
}

func (r *addrRecorder) control(network, address string, _ syscall.RawConn) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs = append(r.addrs, address)
	return nil
}

func (r *addrRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.addrs...)
}

// TestDial dials for real, so it runs only in a network namespace that has
// nothing but loopback: a policy bug fails the test, it cannot reach a
// network.
func TestDial(t *testing.T) {
	t.Parallel()
	if !inLoopbackNetns(t) {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted sync.WaitGroup
	accepted.Add(1)
	go func() {
		defer accepted.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer accepted.Wait()
	defer ln.Close()
	lnPort := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ic := &App{ID: "ic", Capabilities: InternetClient}
	icLo := &App{ID: "ic+lo", Capabilities: InternetClient, LoopbackExempt: true}

	t.Run("rebinding public then private", func(t *testing.T) {
		res := &rebindingResolver{first: netip.MustParseAddr("93.184.215.14"), later: netip.MustParseAddr("10.0.0.1")}
		e := &Engine{Resolver: res}
		tgt, err := e.Check(ctx, ic, OpConnect, "rebind.test", 80)
		if err != nil {
			t.Fatal(err)
		}
		var rec addrRecorder
		// In this namespace the public address is unreachable: the dial fails
		// after the socket was opened for exactly the checked address.
		_, err = e.DialTarget(ctx, &net.Dialer{Control: rec.control}, ic, OpConnect, "tcp", tgt)
		if err == nil {
			t.Fatal("dial to a public address succeeded in a loopback-only namespace")
		}
		if got := rec.seen(); len(got) != 1 || got[0] != "93.184.215.14:80" {
			t.Fatalf("dialed %v, want only the checked 93.184.215.14:80", got)
		}
		if res.count() != 1 {
			t.Fatalf("resolver asked %d times, want once (DialTarget must not re-resolve)", res.count())
		}
		if _, err := e.Check(ctx, ic, OpConnect, "rebind.test", 80); !errors.Is(err, ErrDenied) {
			t.Fatalf("second answer (private) allowed: %v", err)
		}
	})

	t.Run("rebinding loopback then private, connects to the checked address", func(t *testing.T) {
		res := &rebindingResolver{first: netip.MustParseAddr("127.0.0.1"), later: netip.MustParseAddr("10.0.0.1")}
		e := &Engine{Resolver: res}
		tgt, err := e.Check(ctx, icLo, OpConnect, "rebind.test", lnPort)
		if err != nil {
			t.Fatal(err)
		}
		var rec addrRecorder
		c, err := e.DialTarget(ctx, &net.Dialer{Control: rec.control}, icLo, OpConnect, "tcp", tgt)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if got := rec.seen(); len(got) != 1 || got[0] != netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), lnPort).String() {
			t.Fatalf("dialed %v", got)
		}
		if res.count() != 1 {
			t.Fatalf("resolver asked %d times, want once", res.count())
		}
	})

	t.Run("tampered target stopped before any socket", func(t *testing.T) {
		var gateDenials []Decision
		var mu sync.Mutex
		e := &Engine{Resolver: noDNS{t}, OnDecision: func(d Decision) { mu.Lock(); gateDenials = append(gateDenials, d); mu.Unlock() }}
		for _, a := range []string{"10.0.0.1", "169.254.169.254", "127.0.0.1", "0.0.0.0", "::ffff:127.0.0.1"} {
			var rec addrRecorder
			tgt := Target{Host: "x", Port: lnPort, Addrs: []netip.Addr{netip.MustParseAddr(a)}}
			_, err := e.DialTarget(ctx, &net.Dialer{Control: rec.control}, ic, OpConnect, "tcp", tgt)
			if !errors.Is(err, ErrDenied) {
				t.Errorf("DialTarget(%s) = %v, want ErrDenied", a, err)
			}
			if got := rec.seen(); len(got) != 0 {
				t.Errorf("DialTarget(%s) opened a socket for %v", a, got)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(gateDenials) != 5 || !gateDenials[0].Gate {
			t.Errorf("gate denials reported: %+v", gateDenials)
		}
	})

	t.Run("Control gate on a plain dialer", func(t *testing.T) {
		e := &Engine{}
		for _, tt := range []struct {
			app     *App
			network string
			addr    string
			want    Reason
		}{
			{ic, "tcp", "10.1.2.3:80", ReasonPrivate},
			{ic, "tcp", "[fe80::1%lo]:80", ReasonNotUnicast},
			{ic, "udp", "169.254.169.254:80", ReasonMetadata},
			{ic, "udp", "8.8.8.8:25", ReasonPortDenied},
			{ic, "tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), lnPort).String(), ReasonLoopback},
			// The dialer resolves localhost itself here; the gate sees the answer.
			{ic, "tcp", net.JoinHostPort("localhost", itoa(lnPort)), ReasonLoopback},
			{icLo, "tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), lnPort).String(), ReasonAllowed},
		} {
			d := net.Dialer{ControlContext: e.Control(tt.app, OpConnect)}
			c, err := d.DialContext(ctx, tt.network, tt.addr)
			if c != nil {
				c.Close()
			}
			if got := reasonOf(err); got != tt.want {
				t.Errorf("dial %s %s = %v (%v), want %v", tt.network, tt.addr, got, err, tt.want)
			}
		}
	})

	t.Run("UDP target", func(t *testing.T) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		e := &Engine{Resolver: noDNS{t}}
		port := pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		tgt, err := e.Check(ctx, icLo, OpDatagram, "127.0.0.1", port)
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.DialTarget(ctx, nil, icLo, OpDatagram, "udp", tgt)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _, err := pc.ReadFrom(buf); err != nil || string(buf[:n]) != "hi" {
			t.Fatalf("ReadFrom = %q, %v", buf[:n], err)
		}
		if _, err := e.DialTarget(ctx, nil, icLo, OpDatagram, "unix", tgt); reasonOf(err) != ReasonBadOp {
			t.Fatalf("unix network: %v", err)
		}
	})

	t.Run("real pure-Go resolver fails closed", func(t *testing.T) {
		// The zero Engine: pure-Go resolver with resolv.conf. Nothing but
		// loopback exists here, so DNS cannot succeed; localhost needs none.
		e := &Engine{ResolveTimeout: 2 * time.Second}
		all := &App{ID: "all", Capabilities: AllCapabilities}
		if _, err := e.Check(ctx, all, OpConnect, "sockshim-does-not-exist.invalid", 443); !errors.Is(err, ErrDenied) && !errors.Is(err, ErrHostNotFound) {
			t.Fatalf("unresolvable name: %v", err)
		}
		tgt, err := e.Check(ctx, icLo, OpConnect, "localhost", lnPort)
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.DialTarget(ctx, nil, icLo, OpConnect, "tcp", tgt)
		if err != nil {
			t.Fatalf("DialTarget(localhost %v): %v", tgt.Addrs, err)
		}
		c.Close()
	})
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}
