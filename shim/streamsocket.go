package shim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// StreamSocket is a TCP stream socket, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamsocket.
// After Connect it is a net.Conn: Read, Write, Close and deadlines behave as
// on a *net.TCPConn, and timeouts are net.Error timeouts.
//
// The zero value is ready to use with DefaultTransport.
type StreamSocket struct {
	// Transport carries the socket; nil means DefaultTransport. Set it
	// before Connect.
	Transport Transport

	mu      sync.Mutex
	control StreamSocketControl
	info    StreamSocketInformation
	conn    net.Conn
	closed  bool
	own     ownership // EnableTransferOwnership (broker.go)

	tlsConn *tls.Conn // set by UpgradeToSsl / ConnectWithProtectionLevel (tls.go)

	openedAt time.Time  // when Connect succeeded
	stats    statsState // RefreshInformation's readings (information_stats.go)
}

// NewStreamSocket returns a StreamSocket on the given transport (nil means
// DefaultTransport).
func NewStreamSocket(t Transport) *StreamSocket { return &StreamSocket{Transport: t} }

// StreamSocketControl holds a StreamSocket's options, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamsocketcontrol.
// Set them before Connect.
type StreamSocketControl struct {
	tcpControl
	tlsControl     // IgnorableServerCertificateErrors, ClientCertificate, TrustedRoots (tls.go)
	connectControl // OutboundBufferSizeInBytes, OutboundUnicastHopLimit, SerializeConnectionAttempts (control_stream.go)
}

// tcpControl holds the TCP options StreamSocketControl and
// StreamSocketListenerControl share.
type tcpControl struct {
	keepAlive option[bool]
	delay     option[bool] // inverse of NoDelay, so the zero value means NoDelay = true
	qos       option[SocketQualityOfService]
}

// KeepAlive reports whether TCP keep-alive is requested. Default false.
func (c *tcpControl) KeepAlive() bool { return c.keepAlive.get() }

// SetKeepAlive requests TCP keep-alive probes.
func (c *tcpControl) SetKeepAlive(v bool) { c.keepAlive.set(v) }

// NoDelay reports whether Nagle's algorithm is off. Default true.
func (c *tcpControl) NoDelay() bool { return !c.delay.get() }

// SetNoDelay turns Nagle's algorithm off (true) or on (false).
func (c *tcpControl) SetNoDelay(v bool) { c.delay.set(!v) }

// QualityOfService reports the requested quality of service. Default
// QualityOfServiceNormal.
func (c *tcpControl) QualityOfService() SocketQualityOfService { return c.qos.get() }

// SetQualityOfService sets the quality of service.
func (c *tcpControl) SetQualityOfService(q SocketQualityOfService) { c.qos.set(q) }

// SocketQualityOfService mirrors
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.socketqualityofservice.
type SocketQualityOfService uint8

const (
	QualityOfServiceNormal SocketQualityOfService = iota
	QualityOfServiceLowLatency
)

func (q SocketQualityOfService) String() string {
	if q == QualityOfServiceLowLatency {
		return "LowLatency"
	}
	return "Normal"
}

// StreamSocketInformation describes a connected StreamSocket, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamsocketinformation.
// Through a relay, local and remote addresses are the relay's endpoints of
// the real TCP connection (empty when the relay does not report them, as
// plain Wisp servers do not).
type StreamSocketInformation struct {
	LocalAddress      *HostName
	LocalPort         string
	RemoteAddress     *HostName
	RemotePort        string
	RemoteHostName    *HostName
	RemoteServiceName string

	// TLS (tls.go): the negotiated protection level (PlainSocket without
	// TLS; TLS 1.3 reports Ssl), and the server certificate with the
	// problems validation found, kept after a refused handshake too.
	ProtectionLevel                SocketProtectionLevel
	ServerCertificate              *x509.Certificate
	ServerIntermediateCertificates []*x509.Certificate
	ServerCertificateErrors        []ChainValidationResult
	ServerCertificateErrorSeverity SocketSslErrorSeverity

	// Statistics of the real TCP connection and, through a relay, of the
	// tunnel to it, as the last RefreshInformation read them (zero
	// before): information_stats.go says where each figure comes from.
	BandwidthStatistics           BandwidthStatistics
	RoundTripTimeStatistics       RoundTripTimeStatistics
	TunnelRoundTripTimeStatistics RoundTripTimeStatistics
}

// Control returns the socket's options.
func (s *StreamSocket) Control() *StreamSocketControl { return &s.control }

// Information returns what is known about the connection; before Connect
// it is empty. Its statistics are those the last RefreshInformation read.
func (s *StreamSocket) Information() StreamSocketInformation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

var errAlreadyConnected = errors.New("socket is already connected")

// Connect opens a TCP connection to host on service (a port number or a
// well-known name such as "http"). Errors are *SocketError; a destination
// the app's capabilities do not allow satisfies errors.Is(err,
// ErrAccessDenied).
func (s *StreamSocket) Connect(ctx context.Context, host *HostName, service string) error {
	return s.connect(ctx, host, service, false)
}

// connect is Connect; relayTLS asks the transport's relay for TLS to the
// destination (ProtectionLevelRelayTls, relaytls.go).
func (s *StreamSocket) connect(ctx context.Context, host *HostName, service string, relayTLS bool) error {
	addr := joinHostService(host, service)
	if host == nil {
		return wrapErr("connect", addr, errf("nil host: %w", ErrInvalidArgument))
	}
	port, err := ParseServiceName(service, false)
	if err != nil {
		return wrapErr("connect", addr, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return wrapErr("connect", addr, net.ErrClosed)
	}
	if s.conn != nil {
		s.mu.Unlock()
		return wrapErr("connect", addr, errAlreadyConnected)
	}
	t := s.Transport
	s.mu.Unlock()
	if t == nil {
		t = DefaultTransport
	}
	if !t.capabilities().tcpOptions {
		if s.control.KeepAlive() {
			return wrapErr("connect", addr, errf("KeepAlive through a relay: %w (the relay keeps its own TCP keep-alive)", ErrNotSupported))
		}
		if !s.control.NoDelay() {
			return wrapErr("connect", addr, errf("NoDelay=false through a relay: %w (the relay always sets TCP_NODELAY)", ErrNotSupported))
		}
	}
	var c net.Conn
	switch {
	case relayTLS && !s.control.streamOptions().isZero():
		// CONNECT_OPTIONS opens plain TCP streams only (docs/PROTOCOL.md).
		err = errf("OutboundBufferSizeInBytes, OutboundUnicastHopLimit or SerializeConnectionAttempts with ProtectionLevelRelayTls: %w (use ProtectionLevelSsl)", ErrNotSupported)
	case relayTLS:
		c, err = s.dialRelayTLS(ctx, t, host, port)
	default:
		c, err = t.dialStream(ctx, host, port, s.control.streamOptions())
	}
	if err != nil {
		return wrapErr("connect", addr, err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(s.control.NoDelay())
		tc.SetKeepAlive(s.control.KeepAlive())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return wrapErr("connect", addr, net.ErrClosed)
	}
	s.conn, s.openedAt = c, time.Now()
	s.info = StreamSocketInformation{RemoteHostName: host, RemoteServiceName: service, ProtectionLevel: ProtectionLevelPlainSocket}
	if relayTLS {
		s.info.ProtectionLevel = ProtectionLevelRelayTls
	}
	s.info.setEndpoints(c)
	return nil
}

// setEndpoints fills the local and remote address and port from c.
func (i *StreamSocketInformation) setEndpoints(c net.Conn) {
	i.LocalAddress, i.LocalPort = endpoint(tcpAddrPort(c.LocalAddr()))
	i.RemoteAddress, i.RemotePort = endpoint(tcpAddrPort(c.RemoteAddr()))
}

func tcpAddrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok && ta != nil && ta.IP != nil {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}

var errNotConnected = errors.New("socket is not connected")

func (s *StreamSocket) c() (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		if s.closed {
			return nil, net.ErrClosed
		}
		return nil, errNotConnected
	}
	return s.conn, nil
}

func (s *StreamSocket) addr() string {
	return joinHostService(s.info.RemoteHostName, s.info.RemoteServiceName)
}

// Read reads from the connection.
func (s *StreamSocket) Read(b []byte) (int, error) {
	c, err := s.c()
	if err != nil {
		return 0, wrapErr("read", "", err)
	}
	n, err := c.Read(b)
	if err == nil || err == io.EOF {
		return n, err // s.addr() allocates: only for errors
	}
	return n, wrapErr("read", s.addr(), err)
}

// Write writes to the connection.
func (s *StreamSocket) Write(b []byte) (int, error) {
	c, err := s.c()
	if err != nil {
		return 0, wrapErr("write", "", err)
	}
	n, err := c.Write(b)
	if err == nil {
		return n, nil
	}
	return n, wrapErr("write", s.addr(), err)
}

// Close closes the socket, aborting pending operations (WinRT's Dispose).
func (s *StreamSocket) Close() error {
	s.mu.Lock()
	c := s.conn
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return wrapErr("close", "", net.ErrClosed)
	}
	if c == nil {
		return nil
	}
	return wrapErr("close", s.addr(), c.Close())
}

// LocalAddr returns the local address (through a relay: the relay's).
func (s *StreamSocket) LocalAddr() net.Addr {
	if c, err := s.c(); err == nil {
		return c.LocalAddr()
	}
	return nil
}

// RemoteAddr returns the remote address.
func (s *StreamSocket) RemoteAddr() net.Addr {
	if c, err := s.c(); err == nil {
		return c.RemoteAddr()
	}
	return nil
}

// SetDeadline sets the read and write deadlines.
func (s *StreamSocket) SetDeadline(t time.Time) error {
	c, err := s.c()
	if err != nil {
		return wrapErr("set deadline", "", err)
	}
	return c.SetDeadline(t)
}

// SetReadDeadline sets the read deadline.
func (s *StreamSocket) SetReadDeadline(t time.Time) error {
	c, err := s.c()
	if err != nil {
		return wrapErr("set deadline", "", err)
	}
	return c.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline.
func (s *StreamSocket) SetWriteDeadline(t time.Time) error {
	c, err := s.c()
	if err != nil {
		return wrapErr("set deadline", "", err)
	}
	return c.SetWriteDeadline(t)
}

var _ net.Conn = (*StreamSocket)(nil)
