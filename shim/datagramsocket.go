package shim

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// DatagramSocket is a UDP socket, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.datagramsocket.
//
// Open it one of three ways: Connect (a connected socket: Write sends to the
// one peer), Bind or BindEndpoint (an unconnected socket that sends to any
// destination with WriteTo or GetOutputStream and receives from any peer the
// policy admits). Receive with the MessageReceived callback or, as a
// net.PacketConn, with ReadFrom; each call returns one whole datagram.
//
// Limits: a datagram carries at most 65507 bytes to an IPv4 peer and 65527
// to an IPv6 peer; larger ones fail with status SocketErrorMessageTooLong.
//
// Through a relay, every destination is checked by the app's capabilities:
// a connected socket's once at Connect, an unconnected socket's on every
// datagram. A denial at Connect is returned at once; a datagram the relay
// denies is dropped and the denial returned by the next send (as ICMP
// errors are on a real UDP socket), both satisfying errors.Is(err,
// ErrAccessDenied). Incoming datagrams from peers the app may not reach are
// dropped.
//
// The zero value is ready to use with DefaultTransport.
type DatagramSocket struct {
	// Transport carries the socket; nil means DefaultTransport. Set it
	// before opening the socket.
	Transport Transport

	control DatagramSocketControl

	mu     sync.Mutex
	conn   datagramConn
	closed bool
	info   DatagramSocketInformation
	onMsg  func(*DatagramSocketMessageReceivedEventArgs)
	loopOn bool
	own    ownership // broker.go
}

// NewDatagramSocket returns a DatagramSocket on the given transport (nil
// means DefaultTransport).
func NewDatagramSocket(t Transport) *DatagramSocket { return &DatagramSocket{Transport: t} }

// DatagramSocketControl holds a DatagramSocket's options, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.datagramsocketcontrol.
// Set them before Connect, Bind or BindEndpoint, which apply them; an option
// the transport cannot honour makes that call fail with an error wrapping
// ErrNotSupported:
//
//   - through a relay, every option except QualityOfService needs a sockshim
//     relay (a plain Wisp server has no way to carry them);
//   - DontFragment and MulticastOnly need Linux (natively, or at the relay);
//   - in a browser, DirectTransport supports nothing.
//
// QualityOfService LowLatency is a preference: through a sockshim relay that
// offers WebRTC it carries datagrams on an unordered, unreliable data
// channel, falling back to the WebSocket if the channel cannot open; else
// it has no effect.
type DatagramSocketControl struct {
	qos           option[SocketQualityOfService]
	hopLimit      option[uint8]
	dontFragment  option[bool]
	inboundBuffer option[uint32]
	multicastOnly option[bool]
}

// QualityOfService is the requested quality of service. Default Normal.
func (c *DatagramSocketControl) QualityOfService() SocketQualityOfService { return c.qos.get() }

// SetQualityOfService sets the quality of service.
func (c *DatagramSocketControl) SetQualityOfService(q SocketQualityOfService) { c.qos.set(q) }

// OutboundUnicastHopLimit is the IP TTL / hop limit of sent datagrams; 0
// (the default) keeps the system's (usually 64).
func (c *DatagramSocketControl) OutboundUnicastHopLimit() uint8 { return c.hopLimit.get() }

// SetOutboundUnicastHopLimit sets the hop limit, 1-255 (0: system default).
func (c *DatagramSocketControl) SetOutboundUnicastHopLimit(v uint8) { c.hopLimit.set(v) }

// DontFragment reports whether the don't-fragment bit is set. Default false.
func (c *DatagramSocketControl) DontFragment() bool { return c.dontFragment.get() }

// SetDontFragment sets the don't-fragment bit: datagrams larger than the
// path MTU then fail with SocketErrorMessageTooLong instead of being fragmented.
func (c *DatagramSocketControl) SetDontFragment(v bool) { c.dontFragment.set(v) }

// InboundBufferSizeInBytes is the receive buffer size; 0 (the default)
// keeps the system's. Through a relay it also bounds the unread datagrams
// held in this process (default 256 KiB); past it new ones are dropped.
func (c *DatagramSocketControl) InboundBufferSizeInBytes() uint32 { return c.inboundBuffer.get() }

// SetInboundBufferSizeInBytes sets the receive buffer size.
func (c *DatagramSocketControl) SetInboundBufferSizeInBytes(v uint32) { c.inboundBuffer.set(v) }

// MulticastOnly reports whether the socket shares its port with other
// sockets (SO_REUSEADDR), as multicast receivers do. Default false.
func (c *DatagramSocketControl) MulticastOnly() bool { return c.multicastOnly.get() }

// SetMulticastOnly asks for a shareable port; it applies to Bind and
// BindEndpoint.
func (c *DatagramSocketControl) SetMulticastOnly(v bool) { c.multicastOnly.set(v) }

func (c *DatagramSocketControl) options() (datagramOptions, bool, bool) {
	return datagramOptions{hopLimit: c.hopLimit.get(), dontFragment: c.dontFragment.get(), inboundBuffer: c.inboundBuffer.get()},
		c.multicastOnly.get(), c.qos.get() == QualityOfServiceLowLatency
}

// DatagramSocketInformation describes an open DatagramSocket, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.datagramsocketinformation.
// Through a relay the addresses are the relay's socket and peer (empty
// when a plain Wisp server does not report them).
type DatagramSocketInformation struct {
	LocalAddress  *HostName
	LocalPort     string
	RemoteAddress *HostName
	RemotePort    string
}

// DatagramSocketMessageReceivedEventArgs is one received datagram, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.datagramsocketmessagereceivedeventargs.
type DatagramSocketMessageReceivedEventArgs struct {
	Data          []byte // the whole datagram; the handler may keep it
	RemoteAddress *HostName
	RemotePort    string
	LocalAddress  *HostName
}

// Control returns the socket's options.
func (s *DatagramSocket) Control() *DatagramSocketControl { return &s.control }

// Information returns the socket's addresses; empty before it opens.
func (s *DatagramSocket) Information() DatagramSocketInformation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// SetMessageReceived sets the MessageReceived handler: once the socket is
// open, every datagram is handed to f, one at a time and in arrival order,
// on a goroutine of the socket's. While a handler is set, do not call
// ReadFrom or Read (they would compete for datagrams). A nil f stops
// delivery after the current datagram.
func (s *DatagramSocket) SetMessageReceived(f func(*DatagramSocketMessageReceivedEventArgs)) {
	s.mu.Lock()
	s.onMsg = f
	start := f != nil && s.conn != nil && !s.loopOn
	if start {
		s.loopOn = true
	}
	c := s.conn
	s.mu.Unlock()
	if start {
		go s.receiveLoop(c)
	}
}

func (s *DatagramSocket) receiveLoop(c datagramConn) {
	buf := make([]byte, 65536)
	for {
		n, peer, err := c.readFrom(buf)
		s.mu.Lock()
		f := s.onMsg
		if f == nil || err != nil {
			s.loopOn = false
			s.mu.Unlock()
			return
		}
		local := s.info.LocalAddress
		s.mu.Unlock()
		args := &DatagramSocketMessageReceivedEventArgs{
			Data: append([]byte(nil), buf[:n]...), LocalAddress: local,
			RemoteAddress: hostNameFromAddr(peer.Addr()),
		}
		if peer.IsValid() {
			args.RemotePort = strconv.Itoa(int(peer.Port()))
		}
		f(args)
	}
}

var errNotOpen = errors.New("socket is neither connected nor bound")

// Connect opens a connected socket to host on service (a port number or a
// well-known name such as "domain").
func (s *DatagramSocket) Connect(ctx context.Context, host *HostName, service string) error {
	addr := joinHostService(host, service)
	if host == nil {
		return wrapErr("connect", addr, errf("nil host: %w", ErrInvalidArgument))
	}
	port, err := ParseServiceName(service, false)
	if err != nil {
		return wrapErr("connect", addr, err)
	}
	opts, _, low := s.control.options()
	return wrapErr("connect", addr, s.open(ctx, &datagramRequest{
		remoteHost: host.CanonicalName(), remotePort: port, lowLatency: low, opts: opts,
	}, host, service))
}

// Bind opens an unconnected socket on every interface at service (a port;
// "" or "0" picks a free one), WinRT's BindServiceNameAsync. Through a relay
// the port is the relay's. Binding a specific port or address is checked as
// a listening operation; an ephemeral port on every interface (a client
// socket) needs only some capability.
func (s *DatagramSocket) Bind(ctx context.Context, service string) error {
	return s.BindEndpoint(ctx, nil, service)
}

// BindEndpoint opens an unconnected socket on one local address (nil: every
// interface), WinRT's BindEndpointAsync. localHost must be an IP address.
func (s *DatagramSocket) BindEndpoint(ctx context.Context, localHost *HostName, service string) error {
	addr := joinHostService(localHost, service)
	port, err := ParseServiceName(service, true)
	if err != nil {
		return wrapErr("bind", addr, err)
	}
	var local netip.Addr
	if localHost != nil {
		local, err = netip.ParseAddr(localHost.CanonicalName())
		if err != nil {
			return wrapErr("bind", addr, errf("bind to %q: want an IP address: %w", localHost.RawName(), ErrInvalidArgument))
		}
	}
	opts, reuse, low := s.control.options()
	return wrapErr("bind", addr, s.open(ctx, &datagramRequest{
		local: netip.AddrPortFrom(local, port), reuse: reuse, lowLatency: low, opts: opts,
	}, nil, ""))
}

func (s *DatagramSocket) open(ctx context.Context, req *datagramRequest, host *HostName, service string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	if s.conn != nil {
		s.mu.Unlock()
		return errAlreadyConnected
	}
	t := s.Transport
	s.mu.Unlock()
	if t == nil {
		t = DefaultTransport
	}
	c, err := t.datagram(ctx, req)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed || s.conn != nil {
		s.mu.Unlock()
		c.close()
		if s.closed {
			return net.ErrClosed
		}
		return errAlreadyConnected
	}
	s.conn = c
	s.info = DatagramSocketInformation{}
	s.info.LocalAddress, s.info.LocalPort = endpoint(c.local())
	s.info.RemoteAddress, s.info.RemotePort = endpoint(c.remote())
	if s.info.RemoteAddress == nil && host != nil {
		s.info.RemoteAddress, s.info.RemotePort = host, service
	}
	start := s.onMsg != nil && !s.loopOn
	if start {
		s.loopOn = true
	}
	s.mu.Unlock()
	if start {
		go s.receiveLoop(c)
	}
	return nil
}

func (s *DatagramSocket) c() (datagramConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		if s.closed {
			return nil, net.ErrClosed
		}
		return nil, errNotOpen
	}
	return s.conn, nil
}

func (s *DatagramSocket) connectedAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return joinHostService(s.info.RemoteAddress, s.info.RemotePort)
}

// Read reads one datagram (net.Conn style, for a connected socket).
func (s *DatagramSocket) Read(b []byte) (int, error) {
	n, _, err := s.readFrom(b)
	return n, err
}

// ReadFrom reads one whole datagram into b (truncated if b is shorter) and
// returns its sender as a *net.UDPAddr (net.PacketConn).
func (s *DatagramSocket) ReadFrom(b []byte) (int, net.Addr, error) {
	n, ap, err := s.readFrom(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(ap), nil
}

func (s *DatagramSocket) readFrom(b []byte) (int, netip.AddrPort, error) {
	c, err := s.c()
	if err != nil {
		return 0, netip.AddrPort{}, wrapErr("read", "", err)
	}
	n, ap, err := c.readFrom(b)
	if err == io.EOF {
		err = net.ErrClosed // a datagram socket has no end of stream
	}
	return n, ap, wrapErr("read", "", err)
}

// Write sends b as one datagram on a connected socket.
func (s *DatagramSocket) Write(b []byte) (int, error) {
	c, err := s.c()
	if err != nil {
		return 0, wrapErr("write", "", err)
	}
	n, err := c.write(b)
	return n, wrapErr("write", s.connectedAddr(), err)
}

// WriteTo sends b as one datagram to addr (a *net.UDPAddr, or any net.Addr
// whose String is "ip:port") from an unconnected socket (net.PacketConn).
func (s *DatagramSocket) WriteTo(b []byte, addr net.Addr) (int, error) {
	c, err := s.c()
	if err != nil {
		return 0, wrapErr("write", "", err)
	}
	var ap netip.AddrPort
	if ua, ok := addr.(*net.UDPAddr); ok && ua != nil {
		ap = ua.AddrPort()
	} else if addr != nil {
		ap, err = netip.ParseAddrPort(addr.String())
	}
	if err != nil || !ap.IsValid() {
		return 0, wrapErr("write", "", errf("destination %v: %w", addr, ErrInvalidArgument))
	}
	n, err := c.writeTo(b, ap)
	return n, wrapErr("write", ap.String(), err)
}

// GetOutputStream returns a writer whose every Write sends one datagram to
// host on service, WinRT's GetOutputStreamAsync. An unopened socket is bound
// first (Bind(ctx, "")). A host name is resolved by the transport (the relay,
// in a browser) and its answer checked for every datagram.
func (s *DatagramSocket) GetOutputStream(ctx context.Context, host *HostName, service string) (io.Writer, error) {
	addr := joinHostService(host, service)
	if host == nil {
		return nil, wrapErr("write", addr, errf("nil host: %w", ErrInvalidArgument))
	}
	port, err := ParseServiceName(service, false)
	if err != nil {
		return nil, wrapErr("write", addr, err)
	}
	if _, err := s.c(); errors.Is(err, errNotOpen) {
		if err := s.Bind(ctx, ""); err != nil && !errors.Is(err, errAlreadyConnected) {
			return nil, err
		}
	}
	c, err := s.c()
	if err != nil {
		return nil, wrapErr("write", addr, err)
	}
	return &datagramWriter{ctx: context.WithoutCancel(ctx), c: c, host: host, port: port, addr: addr}, nil
}

type datagramWriter struct {
	ctx  context.Context
	c    datagramConn
	host *HostName
	port uint16
	addr string
}

func (w *datagramWriter) Write(b []byte) (int, error) {
	var n int
	var err error
	if a, perr := netip.ParseAddr(w.host.CanonicalName()); perr == nil {
		n, err = w.c.writeTo(b, netip.AddrPortFrom(a, w.port))
	} else {
		n, err = w.c.writeToHost(w.ctx, b, w.host.CanonicalName(), w.port)
	}
	return n, wrapErr("write", w.addr, err)
}

// JoinMulticastGroup joins a multicast group (an IP address HostName), so
// the socket receives its datagrams and may send to it. Through a relay the
// relay joins, on its default interface. Needs privateNetworkClientServer.
func (s *DatagramSocket) JoinMulticastGroup(ctx context.Context, group *HostName) error {
	if group == nil {
		return wrapErr("join", "", errf("nil group: %w", ErrInvalidArgument))
	}
	g, err := netip.ParseAddr(group.CanonicalName())
	if err != nil || !g.IsMulticast() {
		return wrapErr("join", group.CanonicalName(), errf("%q is not a multicast address: %w", group.RawName(), ErrInvalidArgument))
	}
	c, err := s.c()
	if err != nil {
		return wrapErr("join", "", err)
	}
	return wrapErr("join", g.String(), c.join(ctx, g))
}

// Close closes the socket, ending any MessageReceived delivery.
func (s *DatagramSocket) Close() error {
	s.mu.Lock()
	c, already := s.conn, s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return wrapErr("close", "", net.ErrClosed)
	}
	if c == nil {
		return nil
	}
	return wrapErr("close", "", c.close())
}

// LocalAddr is the socket's local address (through a relay: the relay's),
// a *net.UDPAddr; nil before the socket opens.
func (s *DatagramSocket) LocalAddr() net.Addr {
	if c, err := s.c(); err == nil {
		if la := c.local(); la.IsValid() {
			return net.UDPAddrFromAddrPort(la)
		}
	}
	return nil
}

// RemoteAddr is a connected socket's peer, a *net.UDPAddr; else nil.
func (s *DatagramSocket) RemoteAddr() net.Addr {
	if c, err := s.c(); err == nil {
		if ra := c.remote(); ra.IsValid() {
			return net.UDPAddrFromAddrPort(ra)
		}
	}
	return nil
}

// SetDeadline sets the read and write deadlines.
func (s *DatagramSocket) SetDeadline(t time.Time) error {
	if err := s.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; a read past it fails with a
// net.Error whose Timeout is true.
func (s *DatagramSocket) SetReadDeadline(t time.Time) error {
	c, err := s.c()
	if err != nil {
		return wrapErr("set deadline", "", err)
	}
	return c.setReadDeadline(t)
}

// SetWriteDeadline sets the write deadline.
func (s *DatagramSocket) SetWriteDeadline(t time.Time) error {
	c, err := s.c()
	if err != nil {
		return wrapErr("set deadline", "", err)
	}
	return c.setWriteDeadline(t)
}

var _ net.PacketConn = (*DatagramSocket)(nil)
