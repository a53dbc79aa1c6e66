//go:build linux

package shim_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// echoSome writes n bytes and reads them back, so TCP_INFO has samples.
func echoSome(t *testing.T, s *shim.StreamSocket, n int) {
	t.Helper()
	want := bytes.Repeat([]byte("x"), n)
	errc := make(chan error, 1)
	go func() { _, err := s.Write(want); errc <- err }()
	got := make([]byte, n)
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestHopLimitOnTheWire: the destination server sees the TTL (IPv6: hop
// limit) OutboundUnicastHopLimit asked for on the real connection's
// packets, through a relay and directly; without it, the system's.
func TestHopLimitOnTheWire(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	for _, ip := range []string{"127.0.0.1", "::1"} {
		for name, tr := range map[string]shim.Transport{"relay": shim.RelayTransport(url, nil), "direct": shim.DirectTransport(nil)} {
			t.Run(name+" "+ip, func(t *testing.T) {
				t.Parallel()
				addr, seen := testutil.HopLimitServer(t, ip)
				h, _ := shim.NewHostName(ip)
				for _, hops := range []uint8{7, 0} {
					s := shim.NewStreamSocket(tr)
					s.Control().SetOutboundUnicastHopLimit(hops)
					s.Control().SetOutboundBufferSizeInBytes(32 << 10)
					if err := s.Connect(ctxFor(t, 20*time.Second), h, strconv.Itoa(addr.Port)); err != nil {
						t.Fatal(err)
					}
					echoSome(t, s, 1000)
					got := <-seen
					s.Close()
					if hops != 0 && got != int(hops) {
						t.Errorf("hop limit %d: the server saw %d", hops, got)
					}
					if hops == 0 && got == 7 {
						t.Errorf("default hop limit: the server saw %d, the previous socket's", got)
					}
				}
			})
		}
	}
}

// TestSerializeConnectionAttempts: a name whose first address never
// answers. Overlapping attempts (the default) connect to the second while
// the first hangs; serialized ones wait for the first and, within a dial
// timeout shorter than that wait, never reach the second.
func TestSerializeConnectionAttempts(t *testing.T) {
	t.Parallel()
	hung, live := testutil.HungAndLive(t)
	dns := twoAddrs{hung.Addr(), live.Addr()}
	patient, _ := testutil.Relay(t, &relay.Options{Resolver: dns, DialTimeout: 2 * time.Minute})
	hasty, _ := testutil.Relay(t, &relay.Options{Resolver: dns, DialTimeout: 2 * time.Second})
	h, _ := shim.NewHostName("dual.test")
	port := strconv.Itoa(int(live.Port()))

	s := shim.NewStreamSocket(shim.RelayTransport(patient, nil))
	defer s.Close()
	if err := s.Connect(ctxFor(t, time.Minute), h, port); err != nil {
		t.Fatalf("overlapping attempts: %v", err)
	}
	if got := s.Information().RemoteAddress.CanonicalName(); got != live.Addr().String() {
		t.Errorf("connected to %s, want %s", got, live.Addr())
	}
	echoSome(t, s, 10)

	ser := shim.NewStreamSocket(shim.RelayTransport(hasty, nil))
	defer ser.Close()
	ser.Control().SetSerializeConnectionAttempts(true)
	err := ser.Connect(ctxFor(t, time.Minute), h, port)
	if shim.GetStatus(err) != shim.SocketErrorConnectionTimedOut {
		t.Fatalf("serialized attempts: %v (status %v), want ConnectionTimedOut: the hung first address used the dial timeout", err, shim.GetStatus(err))
	}
	// The same relay with overlapping attempts connects within its 2 s.
	par := shim.NewStreamSocket(shim.RelayTransport(hasty, nil))
	defer par.Close()
	if err := par.Connect(ctxFor(t, time.Minute), h, port); err != nil {
		t.Errorf("overlapping attempts, 2 s dial timeout: %v", err)
	}
}

// twoAddrs resolves every name to its addresses, in order.
type twoAddrs []netip.Addr

func (r twoAddrs) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) { return r, nil }

// TestConnectOptionsOnPlainWisp: a relay session without sockshim's TCP
// control extension (Wisp v1 here) refuses non-default options with
// ErrNotSupported instead of dropping them; defaults still connect, and
// statistics are ErrNotSupported too.
func TestConnectOptionsOnPlainWisp(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	echo := testutil.EchoServer(t)
	tr := shim.RelayTransport(url, &shim.RelayOptions{WispV1: true})
	h, _ := shim.NewHostName("127.0.0.1")
	port := strconv.Itoa(echo.Port)
	for name, set := range map[string]func(*shim.StreamSocketControl){
		"send buffer": func(c *shim.StreamSocketControl) { c.SetOutboundBufferSizeInBytes(8192) },
		"hop limit":   func(c *shim.StreamSocketControl) { c.SetOutboundUnicastHopLimit(3) },
		"serialize":   func(c *shim.StreamSocketControl) { c.SetSerializeConnectionAttempts(true) },
	} {
		s := shim.NewStreamSocket(tr)
		set(s.Control())
		err := s.Connect(ctxFor(t, 20*time.Second), h, port)
		s.Close()
		if !errors.Is(err, shim.ErrNotSupported) {
			t.Errorf("%s on plain Wisp: %v, want ErrNotSupported", name, err)
		}
	}
	s := shim.NewStreamSocket(tr)
	defer s.Close()
	if err := s.Connect(ctxFor(t, 20*time.Second), h, port); err != nil {
		t.Fatal(err)
	}
	echoSome(t, s, 10)
	if _, err := s.RefreshInformation(ctxFor(t, 20*time.Second)); !errors.Is(err, shim.ErrNotSupported) {
		t.Errorf("RefreshInformation on plain Wisp: %v, want ErrNotSupported", err)
	}
}

// TestRefreshInformation: real figures from the real connection's TCP_INFO
// (the relay's, or this machine's), and through a relay the tunnel's
// round trips too.
func TestRefreshInformation(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	echo := testutil.EchoServer(t)
	h, _ := shim.NewHostName("127.0.0.1")
	for name, tr := range map[string]shim.Transport{"relay": shim.RelayTransport(url, nil), "direct": shim.DirectTransport(nil)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := shim.NewStreamSocket(tr)
			defer s.Close()
			if _, err := s.RefreshInformation(context.Background()); !errors.Is(err, net.ErrClosed) && err == nil {
				t.Errorf("RefreshInformation before Connect succeeded")
			}
			if err := s.Connect(ctxFor(t, 20*time.Second), h, strconv.Itoa(echo.Port)); err != nil {
				t.Fatal(err)
			}
			if z := s.Information(); z.RoundTripTimeStatistics != (shim.RoundTripTimeStatistics{}) {
				t.Errorf("statistics before RefreshInformation: %+v", z.RoundTripTimeStatistics)
			}
			echoSome(t, s, 1<<20)
			info, err := s.RefreshInformation(ctxFor(t, 20*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			rtt, bw := info.RoundTripTimeStatistics, info.BandwidthStatistics
			if rtt.Sum == 0 || rtt.Min == 0 || rtt.Max < rtt.Sum || rtt.Min > rtt.Max {
				t.Errorf("round trip statistics %+v: want Min <= Sum <= Max, none 0", rtt)
			}
			if bw.InboundBitsPerSecond == 0 || bw.OutboundBitsPerSecond == 0 {
				t.Errorf("bandwidth statistics %+v: 1 MiB went each way", bw)
			}
			tun := info.TunnelRoundTripTimeStatistics
			if name == "relay" && (tun.Sum == 0 || tun.Min == 0 || tun.Min > tun.Max) {
				t.Errorf("tunnel round trips %+v: want samples", tun)
			}
			if name == "direct" && tun != (shim.RoundTripTimeStatistics{}) {
				t.Errorf("tunnel round trips %+v without a tunnel", tun)
			}
			if got := s.Information(); got.RoundTripTimeStatistics != rtt {
				t.Errorf("Information after RefreshInformation: %+v, want %+v", got.RoundTripTimeStatistics, rtt)
			}
			// A second reading: rates since the first, instability set.
			echoSome(t, s, 256<<10)
			info2, err := s.RefreshInformation(ctxFor(t, 20*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if info2.BandwidthStatistics.InboundBitsPerSecond == 0 || info2.RoundTripTimeStatistics.Max < rtt.Max {
				t.Errorf("second reading %+v %+v after %+v", info2.BandwidthStatistics, info2.RoundTripTimeStatistics, rtt)
			}
		})
	}
}

// TestConnectOptionsWithRelayTLS: CONNECT_OPTIONS opens plain TCP only, so
// options with ProtectionLevelRelayTls fail with ErrNotSupported rather
// than being dropped.
func TestConnectOptionsWithRelayTLS(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	echo := testutil.EchoServer(t)
	s := shim.NewStreamSocket(shim.RelayTransport(url, nil))
	defer s.Close()
	s.Control().SetOutboundUnicastHopLimit(9)
	h, _ := shim.NewHostName("127.0.0.1")
	err := s.ConnectWithProtectionLevel(ctxFor(t, 20*time.Second), h, strconv.Itoa(echo.Port), shim.ProtectionLevelRelayTls)
	if !errors.Is(err, shim.ErrNotSupported) {
		t.Fatalf("hop limit with relay TLS: %v, want ErrNotSupported", err)
	}
}
