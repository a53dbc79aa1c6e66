//go:build !js

package relay_test

import (
	"net"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/relay"
)

// rawDialExt is rawDial for a v2 client that advertises exts.
func rawDialExt(t *testing.T, url string, exts ...wisp.Extension) *rawSession {
	t.Helper()
	r := rawDialNoInfo(t, url)
	r.send(wisp.Append(nil, &wisp.Packet{Type: wisp.TypeInfo, Info: wisp.Info{Major: 2, Extensions: exts}}))
	if p := r.read(); p.Type != wisp.TypeContinue || p.StreamID != 0 {
		t.Fatalf("got %v on %d, want CONTINUE on 0", p.Type, p.StreamID)
	}
	return r
}

// TestListenerInboundStreamsAdmitted: connections accepted by a relay-held
// listener are streams like any other, so maxStreamsPerSession bounds them.
func TestListenerInboundStreamsAdmitted(t *testing.T) {
	t.Parallel()
	cfg := mustParse(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["privateNetworkClientServer"],"loopbackExempt":true,
		"listen":{"addresses":["127.0.0.1"],"ports":"1024-65535"},"limits":{"maxStreamsPerSession":2}}]}`)
	url, rs := testutil.Relay(t, &relay.Options{Config: cfg})
	echo := testutil.EchoServer(t)
	s := dial(t, url, nil)
	out, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", echo.AddrPort().Port())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	l, err := s.Listen(ctxT(t), "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var peers []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", l.Bound().Bound.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		peers = append(peers, c)
	}
	if _, err := l.Accept(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// Over the limit: the other three peers are hung up on.
	refused := 0
	for _, c := range peers {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d of 4 inbound connections refused, want 3 (limit 2 streams, one outbound open)", refused)
	}
	if got := rs.Stats().Streams; got != 2 {
		t.Errorf("Stats().Streams = %d, want 2", got)
	}
	if got := metric(t, rs, "sockshim_throttled_total"); got != "3" {
		t.Errorf("sockshim_throttled_total = %s, want 3", got)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestOneIDSpace: LISTEN, CONNECT and BIND share one id space. A request
// for an id in use closes what it named and is refused, both with one
// CLOSE (invalid); ids with the high bit are the relay's.
func TestOneIDSpace(t *testing.T) {
	t.Parallel()
	udpEcho := testutil.UDPEchoServer(t)
	cases := []struct {
		name   string
		first  func(id uint32) []byte
		second func(id uint32) []byte
	}{
		{"listen on a UDP id", connectUDP(udpEcho.AddrPort().Port()), listenAny},
		{"connect on a listener id", listenAny, connectUDP(udpEcho.AddrPort().Port())},
		{"bind on a UDP id", connectUDP(udpEcho.AddrPort().Port()), bindAny},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			url, rs := testutil.Relay(t, nil)
			r := rawDialExt(t, url, wisp.Extension{ID: wisp.ExtListen}, wisp.Extension{ID: wisp.ExtSockshim, Payload: []byte{1}})
			r.send(c.first(5))
			if p := r.read(); p.StreamID != 5 || (p.Type != wisp.TypeOpened && p.Type != wisp.TypeListening) {
				t.Fatalf("first request: got %v on %d", p.Type, p.StreamID)
			}
			r.send(c.second(5))
			p := r.read()
			if p.Type != wisp.TypeClose || p.StreamID != 5 || p.Reason != wisp.ReasonInvalid {
				t.Fatalf("second request on id 5: got %v on %d (%v), want CLOSE invalid", p.Type, p.StreamID, p.Reason)
			}
			waitFor(t, func() bool { st := rs.Stats(); return st.Streams == 0 && st.Listeners == 0 })
		})
	}
	t.Run("relay half", func(t *testing.T) {
		t.Parallel()
		url, _ := testutil.Relay(t, nil)
		r := rawDialExt(t, url, wisp.Extension{ID: wisp.ExtListen})
		r.send(listenAny(wisp.RelayStreamBit | 7))
		if p := r.read(); p.Type != wisp.TypeClose || p.Reason != wisp.ReasonInvalid {
			t.Fatalf("LISTEN on a relay id: got %v (%v), want CLOSE invalid", p.Type, p.Reason)
		}
	})
}

func connectUDP(port uint16) func(uint32) []byte {
	return func(id uint32) []byte {
		return wisp.Append(nil, &wisp.Packet{Type: wisp.TypeConnect, StreamID: id, StreamType: wisp.StreamUDP, Port: port, Host: "127.0.0.1"})
	}
}

func listenAny(id uint32) []byte {
	return wisp.AppendListen(nil, id, wisp.Listen{Host: "127.0.0.1"})
}

func bindAny(id uint32) []byte { return wisp.AppendBind(nil, id, wisp.Bind{}) }
