package shim

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Dialer opens StreamSockets and DatagramSockets in the shape of
// net.Dialer, so code that takes a dial function (http.Transport's
// DialContext, pgx's DialFunc, go-redis's Dialer, ssh.NewClientConn over a
// net.Conn, grpc.WithContextDialer) runs over sockshim unchanged, in a
// browser tab too:
//
//	d := &shim.Dialer{Transport: shim.RelayTransport("wss://relay.example/wisp/", nil)}
//	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
//
// The zero value dials with DefaultTransport, in plain text, with no
// timeout but the context's.
type Dialer struct {
	// Transport carries the sockets; nil means DefaultTransport.
	Transport Transport

	// ProtectionLevel, when set (not ProtectionLevelUnspecified), makes TCP
	// connections negotiate TLS at once in this process, validating the
	// server certificate for the address's host, as
	// StreamSocket.ConnectWithProtectionLevel does. The zero value dials in
	// plain text (the caller may run its own TLS, as http.Transport does).
	// UDP has no TLS: a UDP dial with a level other than PlainSocket fails
	// with ErrNotSupported.
	ProtectionLevel SocketProtectionLevel

	// Control, if not nil, is called with each new StreamSocket's options
	// (KeepAlive, NoDelay, trusted roots, client certificate, ignorable
	// certificate errors) before it connects; an error it returns fails
	// the dial. network and address are the ones passed to DialContext.
	Control func(network, address string, c *StreamSocketControl) error

	// DatagramControl is Control for UDP dials.
	DatagramControl func(network, address string, c *DatagramSocketControl) error

	// Timeout bounds each dial (connection and, with a ProtectionLevel, the
	// TLS handshake). Zero means no timeout but the context's.
	Timeout time.Duration
}

// Dial is DialContext with context.Background().
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network, exactly as net.Dialer does:
//
//   - network is "tcp", "tcp4" or "tcp6" (a *StreamSocket is returned), or
//     "udp", "udp4" or "udp6" (a connected *DatagramSocket: each Write sends
//     one datagram to the peer, each Read returns one).
//   - address is "host:port" or "host:service" as net.SplitHostPort takes
//     it: an IP address ("[::1]:443" brackets IPv6), a host name (resolved
//     by the transport: through a relay, by the relay) and a port number or
//     a service name ("http", "postgresql" natively from the system's
//     services database; in a browser only the well-known names
//     ParseServiceName knows). An empty host means this machine's
//     loopback address, as in net.Dial; through a relay that is the relay's.
//   - tcp4/udp4 and tcp6/udp6 refuse an IP address of the other family.
//     A host name's address family is chosen by the transport; if the
//     connection it made is of the other family, the dial fails with
//     ErrNotSupported.
//
// Errors are *net.OpError (Op "dial") wrapping the *SocketError, so
// errors.Is(err, ErrAccessDenied), GetStatus(err) and net.Error's Timeout
// all see the cause. The context bounds only the dial: cancelling it
// afterwards leaves the connection open.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if d == nil {
		d = &Dialer{}
	}
	a, err := parseNetAddress("dial", network, address)
	if err != nil {
		return nil, err
	}
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	if a.udp {
		return d.dialUDP(ctx, a)
	}
	return d.dialTCP(ctx, a)
}

func (d *Dialer) dialTCP(ctx context.Context, a netAddress) (net.Conn, error) {
	s := NewStreamSocket(d.Transport)
	if d.Control != nil {
		if err := d.Control(a.network, a.address, s.Control()); err != nil {
			s.Close()
			return nil, a.opError(wrapErr("connect", a.joined(), err))
		}
	}
	var err error
	if d.ProtectionLevel == ProtectionLevelUnspecified {
		err = s.Connect(ctx, a.host, a.service)
	} else {
		err = s.ConnectWithProtectionLevel(ctx, a.host, a.service, d.ProtectionLevel)
	}
	if err == nil {
		err = a.checkFamily(s.RemoteAddr())
	}
	if err != nil {
		s.Close()
		return nil, a.opError(err)
	}
	return s, nil
}

func (d *Dialer) dialUDP(ctx context.Context, a netAddress) (net.Conn, error) {
	if d.ProtectionLevel != ProtectionLevelUnspecified && d.ProtectionLevel != ProtectionLevelPlainSocket {
		return nil, a.opError(wrapErr("connect", a.joined(), fmt.Errorf("ProtectionLevel %v on UDP (no DTLS): %w", d.ProtectionLevel, ErrNotSupported)))
	}
	s := NewDatagramSocket(d.Transport)
	if d.DatagramControl != nil {
		if err := d.DatagramControl(a.network, a.address, s.Control()); err != nil {
			s.Close()
			return nil, a.opError(wrapErr("connect", a.joined(), err))
		}
	}
	err := s.Connect(ctx, a.host, a.service)
	if err == nil {
		err = a.checkFamily(s.RemoteAddr())
	}
	if err != nil {
		s.Close()
		return nil, a.opError(err)
	}
	return s, nil
}

// ListenConfig opens listeners in the shape of net.ListenConfig. The zero
// value listens with DefaultTransport.
type ListenConfig struct {
	// Transport carries the listeners; nil means DefaultTransport. Through a
	// relay the port is opened on the relay, as the app's capabilities and
	// the relay's configuration allow.
	Transport Transport

	// Control, if not nil, is called with a TCP listener's options
	// (KeepAlive, NoDelay of the accepted connections) before it binds.
	Control func(network, address string, c *StreamSocketListenerControl) error

	// DatagramControl, if not nil, is called with a UDP socket's options
	// before it binds.
	DatagramControl func(network, address string, c *DatagramSocketControl) error
}

// Listen is ListenConfig{}.Listen: a TCP listener on DefaultTransport.
func Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return (&ListenConfig{}).Listen(ctx, network, address)
}

// ListenPacket is ListenConfig{}.ListenPacket: an unconnected UDP socket on
// DefaultTransport.
func ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	return (&ListenConfig{}).ListenPacket(ctx, network, address)
}

// Listen listens for TCP connections on address, as net.Listen does, and
// returns a bound *StreamSocketListener whose Accept returns *StreamSocket.
// network is "tcp", "tcp4" or "tcp6". address is "host:port": an empty host
// (or "0.0.0.0" / "::") listens on every interface (through a relay: the
// relay's default listen address for the app), an IP address on that one,
// "localhost" on the loopback address of the network's family; port "0" or
// "" picks a free port (read it from Addr). Errors are *net.OpError (Op
// "listen") wrapping the *SocketError.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	if lc == nil {
		lc = &ListenConfig{}
	}
	a, err := parseNetAddress("listen", network, address)
	if err != nil {
		return nil, err
	}
	if a.udp {
		return nil, a.opError(wrapErr("bind", a.joined(), fmt.Errorf("network %q: Listen takes tcp, tcp4 or tcp6 (ListenPacket is for UDP): %w", network, ErrInvalidArgument)))
	}
	l := NewStreamSocketListener(lc.Transport)
	if lc.Control != nil {
		if err := lc.Control(a.network, a.address, l.Control()); err != nil {
			l.Close()
			return nil, a.opError(wrapErr("bind", a.joined(), err))
		}
	}
	if a.host == nil {
		err = l.BindServiceName(ctx, a.service)
	} else {
		err = l.BindEndpoint(ctx, a.host, a.service)
	}
	if err != nil {
		l.Close()
		return nil, a.opError(err)
	}
	return l, nil
}

// ListenPacket opens an unconnected UDP socket on address, as
// net.ListenPacket does, and returns the bound *DatagramSocket (ReadFrom
// and WriteTo, one datagram each). network is "udp", "udp4" or "udp6";
// address is as for Listen. Errors are *net.OpError (Op "listen") wrapping
// the *SocketError.
func (lc *ListenConfig) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	if lc == nil {
		lc = &ListenConfig{}
	}
	a, err := parseNetAddress("listen", network, address)
	if err != nil {
		return nil, err
	}
	if !a.udp {
		return nil, a.opError(wrapErr("bind", a.joined(), fmt.Errorf("network %q: ListenPacket takes udp, udp4 or udp6 (Listen is for TCP): %w", network, ErrInvalidArgument)))
	}
	s := NewDatagramSocket(lc.Transport)
	if lc.DatagramControl != nil {
		if err := lc.DatagramControl(a.network, a.address, s.Control()); err != nil {
			s.Close()
			return nil, a.opError(wrapErr("bind", a.joined(), err))
		}
	}
	if a.host == nil {
		err = s.Bind(ctx, a.service)
	} else {
		err = s.BindEndpoint(ctx, a.host, a.service)
	}
	if err != nil {
		s.Close()
		return nil, a.opError(err)
	}
	return s, nil
}

// netAddress is a parsed (network, address) pair.
type netAddress struct {
	op, network, address string
	udp                  bool
	family               byte // 0 (either), '4' or '6'
	host                 *HostName
	service              string // a port number
}

// parseNetAddress checks network and splits address as net.Dial and
// net.Listen do. For op "dial" an empty host becomes loopback; for
// "listen" it stays nil (every interface), as does an unspecified address.
func parseNetAddress(op, network, address string) (netAddress, error) {
	a := netAddress{op: op, network: network, address: address}
	fail := func(err error) (netAddress, error) {
		return netAddress{}, a.opError(wrapErr(a.socketOp(), address, err))
	}
	switch network {
	case "tcp", "udp":
	case "tcp4", "udp4":
		a.family = '4'
	case "tcp6", "udp6":
		a.family = '6'
	default:
		return fail(fmt.Errorf("network %q: want tcp, tcp4, tcp6, udp, udp4 or udp6: %w", network, ErrNotSupported))
	}
	a.udp = strings.HasPrefix(network, "udp")
	h, service, err := net.SplitHostPort(address)
	if err != nil {
		return fail(fmt.Errorf("%v: %w", err, ErrInvalidArgument))
	}
	port, err := lookupPort(network, service, op == "listen")
	if err != nil {
		return fail(err)
	}
	a.service = strconv.Itoa(int(port))
	if op == "listen" && port == 0 {
		a.service = ""
	}
	if strings.EqualFold(h, "localhost") && op == "listen" {
		h = "127.0.0.1"
		if a.family == '6' {
			h = "::1"
		}
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		if ip.Zone() != "" {
			return fail(fmt.Errorf("address %q: zones are not supported: %w", h, ErrNotSupported))
		}
		if err := a.checkFamily(&net.TCPAddr{IP: ip.AsSlice()}); err != nil {
			return fail(err)
		}
		if op == "listen" && ip.IsUnspecified() {
			if a.family == 0 {
				return a, nil // every interface, either family
			}
		}
	}
	if h == "" {
		if op == "listen" {
			switch a.family {
			case '4':
				h = "0.0.0.0"
			case '6':
				h = "::"
			default:
				return a, nil
			}
		} else {
			h = "127.0.0.1"
			if a.family == '6' {
				h = "::1"
			}
		}
	}
	if a.host, err = NewHostName(h); err != nil {
		return fail(err)
	}
	return a, nil
}

// lookupPort resolves a port number or service name: ParseServiceName's
// names first (the same on every platform), then the system's services
// database where there is one.
func lookupPort(network, service string, allowZero bool) (uint16, error) {
	port, err := ParseServiceName(service, allowZero)
	if err == nil || service == "" {
		return port, err
	}
	if _, convErr := strconv.Atoi(service); convErr == nil {
		return 0, err // a number out of range: no database can help
	}
	p, lerr := net.LookupPort(network, service)
	if lerr != nil || p <= 0 || p > 65535 {
		return 0, fmt.Errorf("unknown service %q for %s: %w", service, network, ErrInvalidArgument)
	}
	return uint16(p), nil
}

var errWrongFamily = fmt.Errorf("address family does not match the network: %w", ErrInvalidArgument)

// checkFamily fails when addr (an IP endpoint, or nil when unknown) is not
// of the network's family.
func (a netAddress) checkFamily(addr net.Addr) error {
	if a.family == 0 || addr == nil {
		return nil
	}
	var ip net.IP
	switch v := addr.(type) {
	case *net.TCPAddr:
		ip = v.IP
	case *net.UDPAddr:
		ip = v.IP
	}
	if ip == nil {
		return nil
	}
	is4 := ip.To4() != nil
	if (a.family == '4') == is4 {
		return nil
	}
	family := "IPv6"
	if is4 {
		family = "IPv4"
	}
	err := fmt.Errorf("%s: %s is %s: %w", a.network, ip, family, errWrongFamily)
	if a.host != nil && a.host.CanonicalName() != ip.String() {
		// A name the transport resolved: it chose the family, not us.
		err = fmt.Errorf("%s to the name %q: the transport connected over %s and cannot be told the family: %w",
			a.network, a.host.RawName(), family, ErrNotSupported)
	}
	return wrapErr(a.socketOp(), a.joined(), err)
}

// socketOp is the SocketError Op of a's operation.
func (a netAddress) socketOp() string {
	if a.op == "listen" {
		return "bind"
	}
	return "connect"
}

func (a netAddress) joined() string {
	if a.host == nil {
		return net.JoinHostPort("", a.service)
	}
	return net.JoinHostPort(a.host.CanonicalName(), a.service)
}

// opError wraps err as net.Dial's errors are.
func (a netAddress) opError(err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: a.op, Net: a.network, Addr: netAddr{a.network, a.address}, Err: err}
}

// netAddr is the address as the caller gave it, for error messages.
type netAddr struct{ network, address string }

func (a netAddr) Network() string { return a.network }
func (a netAddr) String() string  { return a.address }
