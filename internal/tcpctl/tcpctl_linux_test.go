package tcpctl_test

import (
	"net"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/tcpctl"
	"github.com/sockshim/sockshim/internal/testutil"
)

// TestOptionsOnTheWire: the hop limit is on the packets the server
// receives, the send buffer on the socket, and TCP_INFO has real figures.
func TestOptionsOnTheWire(t *testing.T) {
	t.Parallel()
	for _, ip := range []string{"127.0.0.1", "::1"} {
		t.Run(ip, func(t *testing.T) {
			t.Parallel()
			addr, seen := testutil.HopLimitServer(t, ip)
			for _, o := range []tcpctl.Options{{}, {SendBuffer: 16 << 10, HopLimit: 7}} {
				d := net.Dialer{Timeout: 10 * time.Second, Control: o.Control()}
				c, err := d.Dial("tcp", addr.String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				ttl := <-seen
				switch {
				case o.HopLimit != 0 && ttl != o.HopLimit:
					t.Errorf("%+v: the server saw TTL %d, want %d", o, ttl, o.HopLimit)
				case o.HopLimit == 0 && (ttl == 7 || ttl <= 0):
					t.Errorf("default options: the server saw TTL %d, want the system's", ttl)
				}
				if _, err := c.Write([]byte("ping")); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Read(make([]byte, 4)); err != nil {
					t.Fatal(err)
				}
				info, err := tcpctl.Read(c)
				if err != nil {
					t.Fatal(err)
				}
				if info.RTT == 0 || info.BytesAcked < 4 || info.BytesReceived != 4 {
					t.Errorf("%+v: TCP_INFO %+v: want an RTT, 4 bytes acked and received", o, info)
				}
				if o.SendBuffer != 0 && info.SendBuffer != uint32(2*o.SendBuffer) {
					t.Errorf("SO_SNDBUF %d after setting %d, want %d (Linux doubles it)", info.SendBuffer, o.SendBuffer, 2*o.SendBuffer)
				}
			}
		})
	}
}

func TestReadNeedsASocket(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := tcpctl.Read(a); err == nil {
		t.Fatal("Read of a net.Pipe succeeded")
	}
}
