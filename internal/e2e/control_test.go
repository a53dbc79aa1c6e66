//go:build linux

package e2e

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/shim"
)

// TestControlThroughRelayProcess: StreamSocketControl's options reach the
// relay binary's real socket (the destination sees the hop limit; the
// relay's STATS report the send buffer getsockopt read), connection
// attempts overlap unless serialized, RefreshInformation has the relay's
// TCP_INFO and the tunnel's round trips, and StreamSocketListenerControl's
// options reach the connections a relay-held listener accepts.
func TestControlThroughRelayProcess(t *testing.T) {
	t.Parallel()
	r := startRelay(t, "-dev")

	t.Run("hop limit", func(t *testing.T) {
		t.Parallel()
		for _, ip := range []string{"127.0.0.1", "::1"} {
			addr, seen := testutil.HopLimitServer(t, ip)
			s := shim.NewStreamSocket(shim.RelayTransport(r.WispURL(), nil))
			s.Control().SetOutboundUnicastHopLimit(11)
			h, _ := shim.NewHostName(ip)
			if err := s.Connect(ctxT(t, 20*time.Second), h, strconv.Itoa(addr.Port)); err != nil {
				t.Fatal(err)
			}
			if got := <-seen; got != 11 {
				t.Errorf("%s: the destination saw hop limit %d, want 11", ip, got)
			}
			s.Close()
		}
	})

	t.Run("listener options", func(t *testing.T) {
		t.Parallel()
		// LISTEN_OPTIONS to the relay binary: each connection its listener
		// accepts sends with TTL 12 (its SYN-ACK too) and has the send
		// buffer asked for, as the relay's STATS report; a plain LISTEN
		// leaves the system's.
		sess, err := wispclient.Dial(ctxT(t, 20*time.Second), r.WispURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		for _, o := range []wisp.ListenOptions{{SendBuffer: 20 << 10, HopLimit: 12}, {}} {
			l, err := sess.ListenOptions(ctxT(t, 20*time.Second), "127.0.0.1", 0, wisp.ListenNoDelay, o)
			if err != nil {
				t.Fatal(err)
			}
			port := l.Bound().Bound.Port()
			sniff := testutil.NewTTLSniffer(t, port)
			peer, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
			if err != nil {
				t.Fatal(err)
			}
			st, err := l.Accept(ctxT(t, 20*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(peer, make([]byte, 5)); err != nil {
				t.Fatal(err)
			}
			for _, g := range sniff.Segments(t) {
				if (o.HopLimit != 0 && g.TTL != 12) || (o.HopLimit == 0 && g.TTL == 12) {
					t.Errorf("%+v: a segment from the accepted connection had TTL %d (%+v)", o, g.TTL, g)
				}
			}
			stats, err := st.Stats(ctxT(t, 20*time.Second))
			if err != nil || !stats.Valid {
				t.Fatalf("STATS of the accepted stream: %+v %v", stats, err)
			}
			if o.SendBuffer != 0 && stats.SendBuffer != 2*o.SendBuffer {
				t.Errorf("%+v: the relay's accepted socket has SO_SNDBUF %d, want %d", o, stats.SendBuffer, 2*o.SendBuffer)
			}
			if o.SendBuffer == 0 && stats.SendBuffer == 2*20<<10 {
				t.Errorf("plain LISTEN: SO_SNDBUF %d, the previous listener's", stats.SendBuffer)
			}
			peer.Close()
			st.Close()
			l.Close()
		}
	})

	t.Run("send buffer", func(t *testing.T) {
		t.Parallel()
		echo := testutil.EchoServer(t)
		sess, err := wispclient.Dial(ctxT(t, 20*time.Second), r.WispURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		for _, size := range []uint32{16 << 10, 0} {
			st, err := sess.OpenTCP(ctxT(t, 20*time.Second), "127.0.0.1", uint16(echo.Port), wisp.TCPOptions{SendBuffer: size})
			if err != nil {
				t.Fatal(err)
			}
			stats, err := st.Stats(ctxT(t, 20*time.Second))
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
			if size != 0 && stats.SendBuffer != 2*size {
				t.Errorf("relay's SO_SNDBUF %d after asking for %d, want %d (Linux doubles it)", stats.SendBuffer, size, 2*size)
			}
			if size == 0 && stats.SendBuffer == 2*16<<10 {
				t.Errorf("default send buffer: the relay's socket has %d, the size the previous stream asked for", stats.SendBuffer)
			}
		}
	})

	t.Run("connection attempts", func(t *testing.T) {
		t.Parallel()
		// "localhost" is 127.0.0.1 then ::1 to the relay; the first hangs.
		_, live := testutil.HungThenLive(t, "127.0.0.1", "::1")
		h, _ := shim.NewHostName("localhost")
		port := strconv.Itoa(int(live.Port()))
		s := shim.NewStreamSocket(shim.RelayTransport(r.WispURL(), nil))
		defer s.Close()
		if err := s.Connect(ctxT(t, time.Minute), h, port); err != nil {
			t.Fatalf("overlapping attempts: %v", err)
		}
		if got := s.Information().RemoteAddress.CanonicalName(); got != "::1" {
			t.Errorf("connected to %s, want ::1", got)
		}
		ser := shim.NewStreamSocket(shim.RelayTransport(r.WispURL(), nil))
		defer ser.Close()
		ser.Control().SetSerializeConnectionAttempts(true)
		if err := ser.Connect(ctxT(t, time.Minute), h, port); shim.GetStatus(err) != shim.SocketErrorConnectionTimedOut {
			t.Errorf("serialized attempts: %v (status %v), want ConnectionTimedOut: the relay's dial timeout ran out on 127.0.0.1", err, shim.GetStatus(err))
		}
	})

	t.Run("statistics", func(t *testing.T) {
		t.Parallel()
		echo := testutil.EchoServer(t)
		s := shim.NewStreamSocket(shim.RelayTransport(r.WispURL(), nil))
		defer s.Close()
		h, _ := shim.NewHostName("127.0.0.1")
		if err := s.Connect(ctxT(t, 20*time.Second), h, strconv.Itoa(echo.Port)); err != nil {
			t.Fatal(err)
		}
		want := bytes.Repeat([]byte("s"), 2<<20)
		go s.Write(want)
		if _, err := io.ReadFull(s, make([]byte, len(want))); err != nil {
			t.Fatal(err)
		}
		info, err := s.RefreshInformation(ctxT(t, 20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		rtt, tun, bw := info.RoundTripTimeStatistics, info.TunnelRoundTripTimeStatistics, info.BandwidthStatistics
		if rtt.Sum == 0 || rtt.Min == 0 || rtt.Min > rtt.Max || tun.Sum == 0 || tun.Min > tun.Max {
			t.Errorf("round trips: connection %+v, tunnel %+v", rtt, tun)
		}
		if bw.InboundBitsPerSecond == 0 || bw.OutboundBitsPerSecond == 0 {
			t.Errorf("bandwidth %+v after 2 MiB each way", bw)
		}
		// The relay's figures describe its connection, whose local end is
		// the relay's: Information names it.
		if la := info.LocalAddress; la == nil || net.ParseIP(la.CanonicalName()) == nil {
			t.Errorf("local address %v", la)
		}
	})
}

// TestControlThroughWispJSServer: the wisp-js server (plain Wisp v2, from
// npm) has no TCP control extension: default options connect, each
// non-default one fails with ErrNotSupported before anything is sent, and
// RefreshInformation says ErrNotSupported too.
func TestControlThroughWispJSServer(t *testing.T) {
	needNode(t)
	t.Parallel()
	url := wispJSServer(t, `{"allow_loopback_ips":true}`)
	echo := testutil.EchoServer(t)
	tr := shim.RelayTransport(url, nil)
	h := hostName(t, "127.0.0.1")
	port := strconv.Itoa(echo.Port)
	for name, set := range map[string]func(*shim.StreamSocketControl){
		"send buffer": func(c *shim.StreamSocketControl) { c.SetOutboundBufferSizeInBytes(8192) },
		"hop limit":   func(c *shim.StreamSocketControl) { c.SetOutboundUnicastHopLimit(3) },
		"serialize":   func(c *shim.StreamSocketControl) { c.SetSerializeConnectionAttempts(true) },
	} {
		s := shim.NewStreamSocket(tr)
		set(s.Control())
		err := s.Connect(ctxTimeout(t, 10*time.Second), h, port)
		s.Close()
		if !errors.Is(err, shim.ErrNotSupported) {
			t.Errorf("%s through wisp-js: %v, want ErrNotSupported", name, err)
		}
	}
	s := shim.NewStreamSocket(tr)
	defer s.Close()
	if err := s.Connect(ctxTimeout(t, 10*time.Second), h, port); err != nil {
		t.Fatal(err)
	}
	if err := echoThrough(s, 1000, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RefreshInformation(ctxTimeout(t, 10*time.Second)); !errors.Is(err, shim.ErrNotSupported) {
		t.Errorf("RefreshInformation through wisp-js: %v, want ErrNotSupported", err)
	}
}
