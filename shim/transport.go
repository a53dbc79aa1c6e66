package shim

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// Transport carries sockets: DirectTransport uses the operating system's
// sockets, RelayTransport tunnels them through a sockshim (or any Wisp)
// relay. Sockets with a nil Transport use DefaultTransport.
//
// A transport maps its own errors where they enter (transport_relay.go for
// Wisp, transport_direct_notjs.go for the local policy), so sockets only
// see errors that GetStatus and errors.Is understand.
type Transport interface {
	// dialStream opens a TCP connection with the control's options
	// (control_stream.go).
	dialStream(ctx context.Context, host *HostName, port uint16, o streamOptions) (net.Conn, error)
	// listenStream binds a TCP listener on host (an IP literal; "" for the
	// transport's default) and port (0: any).
	listenStream(ctx context.Context, host string, port uint16, o listenOptions) (streamListener, error)
	datagram(ctx context.Context, req *datagramRequest) (datagramConn, error)
	// capabilities says what the transport can do beyond these calls;
	// sockets ask it rather than type-assert a transport.
	capabilities() transportCaps
	String() string
}

// DefaultTransport is the transport of sockets that name none. Natively it is
// DirectTransport(nil); in a browser (GOOS=js) it is RelayTransport for the
// page's own origin + "/wisp/".
var DefaultTransport Transport = defaultTransport()

// transportCaps is what a transport can do that the Transport calls do not
// show.
type transportCaps struct {
	// tcpOptions: KeepAlive and NoDelay=false apply per connection. A
	// relay keeps its own TCP keep-alive and always sets TCP_NODELAY.
	tcpOptions bool
	// environmentProxy: WebSockets may go through the proxy the
	// environment names (HTTPS_PROXY, ...), which only the operating
	// system's sockets can reach by name.
	environmentProxy bool
	// browserWebSocket: a WebSocket on this transport may use the
	// browser's own WebSocket object (a browser's direct transport, which
	// has no sockets of its own).
	browserWebSocket bool
}

// streamListener is a transport's bound listener.
type streamListener interface {
	accept() (net.Conn, error)
	close() error
	addr() net.Addr
	reachable() (host string, port uint16)
}

// listenOptions is what a transport needs from a listener's control.
type listenOptions struct {
	keepAlive, noDelay, lowLatency bool
	sendBuffer                     uint32 // SO_SNDBUF of accepted connections; 0: the system's
	hopLimit                       uint8  // their IP TTL / hop limit; 0: the system's
}

// datagramRequest is what a DatagramSocket asks its transport for.
type datagramRequest struct {
	remoteHost string // connected socket when not empty
	remotePort uint16
	local      netip.AddrPort // bound socket: invalid address = every interface
	reuse      bool           // MulticastOnly: SO_REUSEADDR
	lowLatency bool           // QualityOfService LowLatency: a WebRTC data channel if possible
	opts       datagramOptions
}

type datagramOptions struct {
	hopLimit      uint8
	dontFragment  bool
	inboundBuffer uint32
}

func (o datagramOptions) isZero() bool { return o == datagramOptions{} }

// datagramConn is one open UDP socket of a transport. Its errors are
// already mapped by the transport.
type datagramConn interface {
	readFrom(b []byte) (int, netip.AddrPort, error)
	write(b []byte) (int, error)
	writeTo(b []byte, ap netip.AddrPort) (int, error)
	writeToHost(ctx context.Context, b []byte, host string, port uint16) (int, error)
	join(ctx context.Context, group netip.Addr) error
	local() netip.AddrPort
	remote() netip.AddrPort
	setReadDeadline(t time.Time) error
	setWriteDeadline(t time.Time) error
	close() error
}

// edgeError is an error a transport mapped where it entered: the
// SocketErrorStatus it stands for and, when it is one, the sentinel
// (ErrAccessDenied, ErrNotSupported, ErrInvalidArgument) it satisfies.
// errors.Is and errors.As see both the sentinel and the cause.
type edgeError struct {
	status SocketErrorStatus
	kind   error  // a sentinel, or nil
	detail string // with kind: printed in parentheses instead of the cause
	err    error
}

func (e *edgeError) Error() string {
	switch {
	case e.kind == nil:
		return e.err.Error()
	case e.detail != "":
		return e.kind.Error() + " (" + e.detail + ")"
	}
	return e.kind.Error() + ": " + e.err.Error()
}

func (e *edgeError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// statusErr gives err a status.
func statusErr(status SocketErrorStatus, err error) error {
	return &edgeError{status: status, err: err}
}

// kindErr makes err satisfy errors.Is(_, kind), keeping err's status.
// A non-empty detail is printed after kind in place of err's text.
func kindErr(kind error, detail string, err error) error {
	return &edgeError{status: statusOf(err), kind: kind, detail: detail, err: err}
}
