//go:build !js

package shim

import (
	"context"
	"net"
	"net/netip"
	"strconv"

	"github.com/sockshim/sockshim/internal/policy"
)

// listenStream opens an operating-system listener after the same decisions
// the relay makes: a server capability, the bind address, then each peer.
func (t *directTransport) listenStream(ctx context.Context, host string, port uint16, o listenOptions) (streamListener, error) {
	if t.err != nil {
		return nil, t.err
	}
	addr := netip.IPv6Unspecified() // every interface
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return nil, errf("bind address %q: %w", host, ErrInvalidArgument)
		}
		addr = a.Unmap()
	}
	ap := netip.AddrPortFrom(addr, port)
	if !t.app.Capabilities.Has(policy.InternetClientServer) && !t.app.Capabilities.Has(policy.PrivateNetworkClientServer) {
		// internetClient alone is outbound only.
		return nil, &policy.Error{Op: policy.OpBind, Reason: policy.ReasonNoCapability, Host: addr.String(), Port: port}
	}
	if err := t.engine.CheckAddr(&t.app, policy.OpBind, ap); err != nil {
		return nil, err
	}
	network, laddr := "tcp", ":"+strconv.Itoa(int(port))
	if host != "" {
		network, laddr = "tcp6", ap.String()
		if addr.Is4() {
			network = "tcp4"
		}
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, network, laddr)
	if err != nil {
		return nil, err
	}
	return &directListener{t: t, ln: ln, o: o}, nil
}

type directListener struct {
	t  *directTransport
	ln net.Listener
	o  listenOptions
}

func (d *directListener) accept() (net.Conn, error) {
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return nil, err
		}
		if err := d.t.engine.CheckAddr(&d.t.app, policy.OpAccept, tcpAddrPort(c.RemoteAddr())); err != nil {
			c.Close() // a peer the capabilities do not allow
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(d.o.noDelay)
			tc.SetKeepAlive(d.o.keepAlive)
		}
		return c, nil
	}
}

func (d *directListener) close() error   { return d.ln.Close() }
func (d *directListener) addr() net.Addr { return d.ln.Addr() }
func (d *directListener) reachable() (string, uint16) {
	ap := tcpAddrPort(d.ln.Addr())
	if ap.Addr().IsUnspecified() {
		return "", ap.Port()
	}
	return ap.Addr().String(), ap.Port()
}
