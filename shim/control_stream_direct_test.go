//go:build linux

package shim

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/tcpctl"
	"github.com/sockshim/sockshim/internal/testutil"
)

// TestDirectSendBuffer: DirectTransport's socket has the send buffer
// OutboundBufferSizeInBytes asked for (Linux doubles it).
func TestDirectSendBuffer(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	h, _ := NewHostName("127.0.0.1")
	s := NewStreamSocket(DirectTransport(nil))
	defer s.Close()
	s.Control().SetOutboundBufferSizeInBytes(24 << 10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Connect(ctx, h, strconv.Itoa(echo.Port)); err != nil {
		t.Fatal(err)
	}
	info, err := tcpctl.Read(s.conn)
	if err != nil {
		t.Fatal(err)
	}
	if info.SendBuffer != 2*24<<10 {
		t.Errorf("SO_SNDBUF %d, want %d", info.SendBuffer, 2*24<<10)
	}
}

type addrsDNS []netip.Addr

func (r addrsDNS) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) { return r, nil }

// TestDirectSerializeConnectionAttempts: DirectTransport overlaps attempts
// by default and serializes them when asked, as the relay does.
func TestDirectSerializeConnectionAttempts(t *testing.T) {
	t.Parallel()
	hung, live := testutil.HungAndLive(t)
	tr := DirectTransport(nil).(*directTransport)
	tr.engine.Resolver = addrsDNS{hung.Addr(), live.Addr()}
	h, _ := NewHostName("dual.test")
	port := strconv.Itoa(int(live.Port()))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := NewStreamSocket(tr)
	defer s.Close()
	if err := s.Connect(ctx, h, port); err != nil {
		t.Fatalf("overlapping attempts: %v", err)
	}
	if got := s.RemoteAddr().(*net.TCPAddr).AddrPort(); got != live {
		t.Errorf("connected to %v, want %v", got, live)
	}

	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	ser := NewStreamSocket(tr)
	defer ser.Close()
	ser.Control().SetSerializeConnectionAttempts(true)
	if err := ser.Connect(sctx, h, port); err == nil {
		t.Fatal("serialized attempts got past the hung first address within 2 s")
	}
}
