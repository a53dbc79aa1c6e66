//go:build !js

package shim

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/tcpctl"
	"github.com/sockshim/sockshim/internal/udpopt"
	"github.com/sockshim/sockshim/internal/udpsock"
)

// DirectTransport opens operating-system sockets, deciding each destination
// with the same capability policy the relay applies (resolve, classify
// every answer, dial only checked addresses). A nil opts grants every
// capability and the loopback exemption, like an ordinary program.
func DirectTransport(opts *DirectOptions) Transport {
	t := &directTransport{app: policy.App{ID: "direct", Capabilities: policy.AllCapabilities, LoopbackExempt: true}}
	if opts != nil {
		if opts.Capabilities != nil {
			t.app.Capabilities = 0
			for _, c := range opts.Capabilities {
				cp, err := policy.ParseCapability(c)
				if err != nil {
					t.err = err
				}
				t.app.Capabilities |= cp
			}
		}
		t.app.LoopbackExempt = !opts.DenyLoopback
	}
	return t
}

type directTransport struct {
	app    policy.App
	err    error
	engine policy.Engine
}

func (t *directTransport) String() string { return "direct" }

// capabilities: the operating system's sockets take TCP options and reach
// the environment's proxy.
func (t *directTransport) capabilities() transportCaps {
	return transportCaps{tcpOptions: true, environmentProxy: true}
}

// dialStream sets o on each socket before it connects and tries the
// addresses serially or overlapping, as the relay does (relay/tcpcontrol.go).
func (t *directTransport) dialStream(ctx context.Context, host *HostName, port uint16, o streamOptions) (net.Conn, error) {
	if t.err != nil {
		return nil, t.err
	}
	target, err := t.engine.Check(ctx, &t.app, policy.OpConnect, host.CanonicalName(), port)
	if err != nil {
		return nil, directErr(err)
	}
	d := &net.Dialer{Control: tcpctl.Options{SendBuffer: int(o.sendBuffer), HopLimit: int(o.hopLimit)}.Control()}
	c, err := t.engine.DialTargetAttempts(ctx, d, &t.app, policy.OpConnect, "tcp", target, policy.DialAttempts{Serial: o.serialize})
	return c, directErr(err)
}

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
		return nil, directErr(&policy.Error{Op: policy.OpBind, Reason: policy.ReasonNoCapability, Host: addr.String(), Port: port})
	}
	if err := t.engine.CheckAddr(&t.app, policy.OpBind, ap); err != nil {
		return nil, directErr(err)
	}
	network, laddr := "tcp", ":"+strconv.Itoa(int(port))
	if host != "" {
		network, laddr = "tcp6", ap.String()
		if addr.Is4() {
			network = "tcp4"
		}
	}
	// The socket options go on the listening socket, which the accepted
	// ones inherit (the SYN-ACK carries the hop limit too).
	so := tcpctl.Options{SendBuffer: int(o.sendBuffer), HopLimit: int(o.hopLimit)}
	lc := net.ListenConfig{KeepAlive: -1, Control: so.Control()}
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
		// Again on the connection: a dual-stack listener's hop limit is
		// IPv6's, and an IPv4 peer's packets need IP_TTL.
		so := tcpctl.Options{SendBuffer: int(d.o.sendBuffer), HopLimit: int(d.o.hopLimit)}
		if err := so.SetConn(c); err != nil {
			c.Close() // the listening socket took them: this peer is gone
			continue
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

func (t *directTransport) datagram(ctx context.Context, req *datagramRequest) (datagramConn, error) {
	if t.err != nil {
		return nil, t.err
	}
	var sock *udpsock.Socket
	var err error
	if req.remoteHost != "" {
		sock, err = udpsock.Dial(ctx, &t.engine, &t.app, req.remoteHost, req.remotePort)
	} else {
		sock, err = udpsock.Bind(ctx, &t.engine, &t.app, req.local, req.reuse)
	}
	if err != nil {
		return nil, directErr(err)
	}
	if !req.opts.isZero() {
		o := udpopt.Options{HopLimit: int(req.opts.hopLimit), DontFragment: req.opts.dontFragment, ReceiveBuffer: int(req.opts.inboundBuffer)}
		if err := sock.SetOptions(o); err != nil {
			sock.Close()
			return nil, directErr(err)
		}
	}
	return directDatagram{sock}, nil
}

// directDatagram is an operating-system UDP socket under the local policy,
// which decides every datagram's destination.
type directDatagram struct {
	s *udpsock.Socket
}

func (d directDatagram) readFrom(b []byte) (int, netip.AddrPort, error) { return d.s.ReadFrom(b) }
func (d directDatagram) write(b []byte) (int, error) {
	n, err := d.s.Write(b)
	return n, directErr(err)
}
func (d directDatagram) writeTo(b []byte, ap netip.AddrPort) (int, error) {
	n, err := d.s.WriteTo(b, ap)
	return n, directErr(err)
}
func (d directDatagram) writeToHost(ctx context.Context, b []byte, host string, port uint16) (int, error) {
	n, err := d.s.WriteToHost(ctx, b, host, port)
	return n, directErr(err)
}
func (d directDatagram) join(_ context.Context, g netip.Addr) error { return directErr(d.s.Join(g)) }
func (d directDatagram) local() netip.AddrPort                      { return d.s.LocalAddr() }
func (d directDatagram) remote() netip.AddrPort {
	ap, _ := d.s.Connected()
	return ap
}
func (d directDatagram) setReadDeadline(t time.Time) error  { return d.s.Conn().SetReadDeadline(t) }
func (d directDatagram) setWriteDeadline(t time.Time) error { return d.s.Conn().SetWriteDeadline(t) }
func (d directDatagram) close() error                       { return d.s.Close() }

// directErr maps the local policy's decisions into the shim's terms,
// keeping them in the chain: a denial satisfies ErrAccessDenied (with its
// reason), a name that does not resolve is SocketErrorHostNotFound, a socket option
// the OS lacks is ErrNotSupported. Operating-system errors pass unchanged.
func directErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *policy.Error
	switch {
	case errors.Is(err, policy.ErrHostNotFound): // also a concealed DNS denial: no address the app may reach
		return statusErr(SocketErrorHostNotFound, err)
	case errors.As(err, &pe) && errors.Is(err, policy.ErrDenied):
		return kindErr(ErrAccessDenied, pe.Reason.String(), err)
	case errors.Is(err, udpopt.ErrNotSupported), errors.Is(err, tcpctl.ErrNotSupported), errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, ErrNotSupported):
		return kindErr(ErrNotSupported, "", err)
	}
	return err
}
