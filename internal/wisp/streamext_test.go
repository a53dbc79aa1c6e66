package wisp

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestStreamExtRoundTrip(t *testing.T) {
	t.Parallel()
	ap := netip.MustParseAddrPort("[2001:db8::1]:443")
	ap4 := netip.MustParseAddrPort("127.0.0.1:20000")
	cases := []struct {
		name  string
		frame []byte
		check func(p Packet) bool
	}{
		{"fin", AppendFin(nil, 7), func(p Packet) bool { return p.Type == TypeFin && ParseFin(p.Data) == nil }},
		{"grant", AppendGrant(nil, 7, 65536), func(p Packet) bool {
			n, err := ParseGrant(p.Data)
			return err == nil && n == 65536
		}},
		{"listen", AppendListen(nil, 3, Listen{Flags: ListenNoDelay, Port: 8080, Host: "::1"}), func(p Packet) bool {
			l, err := ParseListen(p.Data)
			return err == nil && l == Listen{Flags: ListenNoDelay, Port: 8080, Host: "::1"}
		}},
		{"listening", AppendListening(nil, 3, Listening{Bound: ap4, ReachableHost: "relay.example", ReachablePort: 20000}), func(p Packet) bool {
			l, err := ParseListening(p.Data)
			return err == nil && l == Listening{Bound: ap4, ReachableHost: "relay.example", ReachablePort: 20000}
		}},
		{"accepted", AppendAccepted(nil, RelayStreamBit|1, Accepted{Listener: 3, Remote: ap, Local: ap4}), func(p Packet) bool {
			a, err := ParseAccepted(p.Data)
			return err == nil && a == Accepted{Listener: 3, Remote: ap, Local: ap4} && p.StreamID == RelayStreamBit|1
		}},
	}
	for _, c := range cases {
		p, err := Parse(c.frame)
		if err != nil || !c.check(p) {
			t.Errorf("%s: %x parsed to %+v, %v", c.name, c.frame, p, err)
		}
	}
}

func TestStreamExtMalformed(t *testing.T) {
	t.Parallel()
	bad := map[string]func() error{
		"fin with payload": func() error { return ParseFin([]byte{0}) },
		"grant zero":       func() error { _, err := ParseGrant([]byte{0, 0, 0, 0}); return err },
		"grant short":      func() error { _, err := ParseGrant([]byte{1}); return err },
		"window zero":      func() error { _, err := ParseFlowControlInfo([]byte{0, 0, 0, 0}); return err },
		"listen short":     func() error { _, err := ParseListen([]byte{0, 1}); return err },
		"listen flags":     func() error { _, err := ParseListen([]byte{0x80, 1, 0}); return err },
		"listen bad utf8":  func() error { _, err := ParseListen([]byte{0, 1, 0, 0xff}); return err },
		"listening trail":  func() error { _, err := ParseListening([]byte{0, 0, 0, 0, 0, 0, 1}); return err },
		"accepted trail":   func() error { _, err := ParseAccepted([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}); return err },
	}
	for name, f := range bad {
		if err := f(); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// FuzzStreamExt: whatever parses re-encodes to bytes that parse to the same
// value (endpoints are normalised: an IPv4-mapped address encodes as IPv4).
func FuzzStreamExt(f *testing.F) {
	f.Add(byte(TypeListen), []byte{1, 0x50, 0, '1', '2', '7', '.', '0', '.', '0', '.', '1'})
	f.Add(byte(TypeListening), AppendListening(nil, 0, Listening{Bound: netip.MustParseAddrPort("0.0.0.0:1"), ReachableHost: "h", ReachablePort: 1})[HeaderLen:])
	f.Add(byte(TypeAccepted), AppendAccepted(nil, 0, Accepted{Listener: 1})[HeaderLen:])
	f.Add(byte(TypeGrant), []byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, typ byte, b []byte) {
		unmap := func(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }
		switch Type(typ) {
		case TypeListen:
			l, err := ParseListen(b)
			if err != nil {
				return
			}
			if again := AppendListen(nil, 0, l)[HeaderLen:]; !bytes.Equal(again, b) {
				t.Fatalf("%x re-encodes as %x", b, again)
			}
		case TypeListening:
			l, err := ParseListening(b)
			if err != nil {
				return
			}
			l2, err := ParseListening(AppendListening(nil, 0, l)[HeaderLen:])
			l.Bound = unmap(l.Bound)
			if err != nil || l2 != l {
				t.Fatalf("%+v re-parses as %+v, %v", l, l2, err)
			}
		case TypeAccepted:
			a, err := ParseAccepted(b)
			if err != nil {
				return
			}
			a2, err := ParseAccepted(AppendAccepted(nil, 0, a)[HeaderLen:])
			a.Remote, a.Local = unmap(a.Remote), unmap(a.Local)
			if err != nil || a2 != a {
				t.Fatalf("%+v re-parses as %+v, %v", a, a2, err)
			}
		case TypeGrant:
			n, err := ParseGrant(b)
			if err != nil {
				return
			}
			if again := AppendGrant(nil, 0, n)[HeaderLen:]; !bytes.Equal(again, b) {
				t.Fatalf("%x re-encodes as %x", b, again)
			}
		}
	})
}
