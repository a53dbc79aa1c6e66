package wisp

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestDatagramPacketsRoundTrip(t *testing.T) {
	t.Parallel()
	peer := netip.MustParseAddrPort("[2001:db8::1]:53")
	b := AppendDatagram(nil, 5, peer, []byte("query"))
	p, err := Parse(b)
	if err != nil || p.Type != TypeDatagram || p.StreamID != 5 {
		t.Fatalf("Parse: %+v %v", p, err)
	}
	gotPeer, data, err := ParseDatagram(p.Data)
	if err != nil || gotPeer != peer || string(data) != "query" {
		t.Fatalf("ParseDatagram: %v %q %v", gotPeer, data, err)
	}

	bt, err := AppendDatagramTo(nil, 6, "dns.example", 53, []byte{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ = Parse(bt)
	h, port, data, err := ParseDatagramTo(p.Data)
	if err != nil || h != "dns.example" || port != 53 || len(data) != 0 {
		t.Fatalf("ParseDatagramTo: %q %d %q %v", h, port, data, err)
	}

	bind := Bind{Flags: BindReuseAddress, Local: netip.MustParseAddrPort("0.0.0.0:5353")}
	p, _ = Parse(AppendBind(nil, 7, bind))
	if got, err := ParseBind(p.Data); err != nil || got != bind {
		t.Fatalf("ParseBind: %+v %v", got, err)
	}
	opts := UDPOptions{HopLimit: 3, DontFragment: true, ReceiveBuffer: 1 << 20}
	p, _ = Parse(AppendUDPOptions(nil, 7, opts))
	if got, err := ParseUDPOptions(p.Data); err != nil || got != opts {
		t.Fatalf("ParseUDPOptions: %+v %v", got, err)
	}
	g := netip.MustParseAddr("239.1.2.3")
	p, _ = Parse(AppendJoin(nil, 7, g))
	if got, err := ParseJoin(p.Data); err != nil || got != g {
		t.Fatalf("ParseJoin: %v %v", got, err)
	}
	p, _ = Parse(AppendUDPResult(nil, 7, TypeJoin, ReasonBlocked))
	if req, r, err := ParseUDPResult(p.Data); err != nil || req != TypeJoin || r != ReasonBlocked {
		t.Fatalf("ParseUDPResult: %v %v %v", req, r, err)
	}
	p, _ = Parse(AppendSignal(nil, SignalOffer, []byte(`{"type":"offer"}`)))
	if k, body, err := ParseSignal(p.Data); err != nil || k != SignalOffer || string(body) != `{"type":"offer"}` {
		t.Fatalf("ParseSignal: %v %q %v", k, body, err)
	}
}

func TestDatagramPacketsReject(t *testing.T) {
	t.Parallel()
	for name, fn := range map[string]func() error{
		"datagram no peer":     func() error { _, _, err := ParseDatagram([]byte{0, 53, 0, 'x'}); return err },
		"datagram truncated":   func() error { _, _, err := ParseDatagram([]byte{4, 127, 0}); return err },
		"datagram_to empty":    func() error { _, _, _, err := ParseDatagramTo([]byte{0, 53, 0}); return err },
		"datagram_to short":    func() error { _, _, _, err := ParseDatagramTo([]byte{9, 'a', 'b'}); return err },
		"options flags":        func() error { _, err := ParseUDPOptions([]byte{0, 2, 0, 0, 0, 0}); return err },
		"options length":       func() error { _, err := ParseUDPOptions([]byte{0, 0}); return err },
		"bind trailing":        func() error { _, err := ParseBind([]byte{0, 0, 0, 0, 9}); return err },
		"join without address": func() error { _, err := ParseJoin([]byte{0, 0, 0}); return err },
		"signal kind":          func() error { _, _, err := ParseSignal([]byte{9, '{'}); return err },
		"signal utf8":          func() error { _, _, err := ParseSignal([]byte{1, 0xff}); return err },
	} {
		if err := fn(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := AppendDatagramTo(nil, 1, string(make([]byte, 256)), 1, nil); err == nil {
		t.Error("AppendDatagramTo accepted a 256-byte host")
	}
}

// FuzzDatagram checks that every accepted DATAGRAM, DATAGRAM_TO and BIND
// payload re-encodes to the same bytes.
func FuzzDatagram(f *testing.F) {
	f.Add(AppendDatagram(nil, 1, netip.MustParseAddrPort("127.0.0.1:7"), []byte("x"))[HeaderLen:])
	to, _ := AppendDatagramTo(nil, 1, "a.example", 53, []byte("q"))
	f.Add(to[HeaderLen:])
	f.Add(AppendBind(nil, 1, Bind{Local: netip.MustParseAddrPort("[::]:0")})[HeaderLen:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if peer, data, err := ParseDatagram(b); err == nil {
			if peer.Addr().Is4In6() {
				return // encoded unmapped, by design
			}
			if re := AppendDatagram(nil, 0, peer, data)[HeaderLen:]; !bytes.Equal(re, b) {
				t.Fatalf("DATAGRAM %x re-encodes as %x", b, re)
			}
		}
		if h, port, data, err := ParseDatagramTo(b); err == nil {
			re, err := AppendDatagramTo(nil, 0, h, port, data)
			if err != nil || !bytes.Equal(re[HeaderLen:], b) {
				t.Fatalf("DATAGRAM_TO %x re-encodes as %x (%v)", b, re, err)
			}
		}
		if bd, err := ParseBind(b); err == nil && !bd.Local.Addr().Is4In6() {
			if re := AppendBind(nil, 0, bd)[HeaderLen:]; !bytes.Equal(re, b) {
				t.Fatalf("BIND %x re-encodes as %x", b, re)
			}
		}
		if o, err := ParseUDPOptions(b); err == nil {
			if re := AppendUDPOptions(nil, 0, o)[HeaderLen:]; !bytes.Equal(re, b) {
				t.Fatalf("UDP_OPTIONS %x re-encodes as %x", b, re)
			}
		}
		if k, body, err := ParseSignal(b); err == nil {
			if re := AppendSignal(nil, k, body)[HeaderLen:]; !bytes.Equal(re, b) {
				t.Fatalf("SIGNAL %x re-encodes as %x", b, re)
			}
		}
	})
}
