//go:build linux

package shim

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/tcpctl"
	"github.com/sockshim/sockshim/internal/testutil"
)

// sendBufferOf is the real socket's SO_SNDBUF behind an accepted socket:
// through a relay, the relay's getsockopt of its accepted connection (its
// STATS); directly, this process's.
func sendBufferOf(t *testing.T, s *StreamSocket) uint32 {
	t.Helper()
	switch c := s.conn.(type) {
	case relayConn:
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st, err := c.Stream.Stats(ctx)
		if err != nil || !st.Valid {
			t.Fatalf("the relay's STATS of the accepted connection: %+v, %v", st, err)
		}
		return st.SendBuffer
	default:
		info, err := tcpctl.Read(c)
		if err != nil {
			t.Fatal(err)
		}
		return info.SendBuffer
	}
}

// TestListenerControlOnTheWire: StreamSocketListenerControl's hop limit is
// the TTL on the wire of every segment the accepted connection sends, its
// SYN-ACK included (a raw socket sees them), and its send buffer is the
// accepted socket's, through a relay (LISTEN_OPTIONS) and directly; the
// defaults leave the system's.
func TestListenerControlOnTheWire(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	lo, _ := NewHostName("127.0.0.1")
	for name, tr := range map[string]Transport{"relay": RelayTransport(url, nil), "direct": DirectTransport(nil)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, o := range []struct {
				hops   uint8
				sndbuf uint32
			}{{9, 48 << 10}, {0, 0}} {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				l := NewStreamSocketListener(tr)
				l.Control().SetOutboundUnicastHopLimit(o.hops)
				l.Control().SetOutboundBufferSizeInBytes(o.sndbuf)
				if got := l.Control().OutboundUnicastHopLimit(); got != o.hops {
					t.Fatalf("OutboundUnicastHopLimit() = %d after setting %d", got, o.hops)
				}
				if err := l.BindEndpoint(ctx, lo, ""); err != nil {
					t.Fatal(err)
				}
				port, _ := strconv.Atoi(l.Information().LocalPort)
				sniff := testutil.NewTTLSniffer(t, uint16(port))
				peer, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err != nil {
					t.Fatal(err)
				}
				c, err := l.Accept()
				if err != nil {
					t.Fatal(err)
				}
				s := c.(*StreamSocket)
				if _, err := s.Write([]byte("from the accepted side")); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(peer, make([]byte, 22)); err != nil {
					t.Fatal(err)
				}
				segs := sniff.Segments(t)
				for _, g := range segs {
					if o.hops != 0 && g.TTL != int(o.hops) {
						t.Errorf("hop limit %d: a segment from the accepted connection had TTL %d (%+v)", o.hops, g.TTL, g)
					}
					if o.hops == 0 && g.TTL == 9 {
						t.Errorf("default hop limit: TTL 9 on the wire (%+v)", g)
					}
				}
				sb := sendBufferOf(t, s)
				if o.sndbuf != 0 && sb != 2*o.sndbuf {
					t.Errorf("send buffer %d: the accepted socket has SO_SNDBUF %d, want %d (Linux doubles it)", o.sndbuf, sb, 2*o.sndbuf)
				}
				if o.sndbuf == 0 && sb == 2*48<<10 {
					t.Errorf("default send buffer: SO_SNDBUF %d, the set one", sb)
				}
				t.Logf("hop limit %d, send buffer %d: %d segments, TTL %d, SO_SNDBUF %d", o.hops, o.sndbuf, len(segs), segs[0].TTL, sb)
				peer.Close()
				s.Close()
				l.Close()
			}
		})
	}
}

// TestListenerControlOnPlainWisp: a plain Wisp session (v1: neither
// listeners nor sockshim's TCP control extension) fails Bind with
// ErrNotSupported when an option is set; nothing is dropped.
func TestListenerControlOnPlainWisp(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	lo, _ := NewHostName("127.0.0.1")
	for name, set := range map[string]func(*StreamSocketListenerControl){
		"send buffer": func(c *StreamSocketListenerControl) { c.SetOutboundBufferSizeInBytes(8192) },
		"hop limit":   func(c *StreamSocketListenerControl) { c.SetOutboundUnicastHopLimit(3) },
	} {
		l := NewStreamSocketListener(RelayTransport(url, &RelayOptions{WispV1: true}))
		set(l.Control())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := l.BindEndpoint(ctx, lo, "")
		cancel()
		l.Close()
		if !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s on plain Wisp: %v, want ErrNotSupported", name, err)
		}
	}
}
