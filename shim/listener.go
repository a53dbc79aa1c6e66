package shim

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
)

// StreamSocketListener listens for inbound TCP connections, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamsocketlistener.
// After a Bind it is a net.Listener whose Accept returns *StreamSocket.
//
// Through a relay, the relay opens the real listener on the app's behalf,
// on an address and port its configuration allows the app, and each
// accepted connection arrives as a relay-initiated stream. The listener
// lives as long as the relay session: when the session ends the relay frees
// the port at once, and Accept fails.
//
// Binding needs the internetClientServer capability (any address) or
// privateNetworkClientServer (private addresses); a denial satisfies
// errors.Is(err, ErrAccessDenied). Each accepted peer is checked against
// the app's capabilities too; a peer they do not allow is disconnected and
// never reaches Accept.
type StreamSocketListener struct {
	// Transport carries the listener; nil means DefaultTransport. Set it
	// before Bind.
	Transport Transport
	// ConnectionReceived, when set before Bind, receives every accepted
	// connection, each call on its own goroutine (WinRT's ConnectionReceived
	// event). The handler owns the socket. Accept then fails with
	// ErrInvalidArgument.
	ConnectionReceived func(l *StreamSocketListener, s *StreamSocket)

	control StreamSocketListenerControl

	mu     sync.Mutex
	ln     streamListener
	info   StreamSocketListenerInformation
	closed bool
	own    ownership // EnableTransferOwnership (broker.go)
}

// NewStreamSocketListener returns a listener on the given transport (nil
// means DefaultTransport).
func NewStreamSocketListener(t Transport) *StreamSocketListener {
	return &StreamSocketListener{Transport: t}
}

// StreamSocketListenerControl holds the options of the listener and of the
// connections it accepts, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamsocketlistenercontrol:
// KeepAlive (default false), NoDelay (default true), QualityOfService
// (default QualityOfServiceNormal; advisory), OutboundBufferSizeInBytes and
// OutboundUnicastHopLimit (default 0: the system's; control_listener.go),
// WinRT's whole StreamSocketListenerControl. Set them before Bind. Through
// a relay they are honoured by the relay on each accepted connection
// (docs/PROTOCOL.md, LISTEN_OPTIONS); with DirectTransport by this process.
// SerializeConnectionAttempts is StreamSocketControl's only (a listener
// dials nothing); an accepted socket's TLS options are set on its own
// Control.
type StreamSocketListenerControl struct {
	tcpControl
	acceptControl // OutboundBufferSizeInBytes, OutboundUnicastHopLimit (control_listener.go)
}

// StreamSocketListenerInformation describes a bound listener, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamsocketlistenerinformation.
type StreamSocketListenerInformation struct {
	// LocalPort is the bound port (through a relay: on the relay).
	LocalPort string
	// LocalAddress is the bound address; 0.0.0.0 or :: for every interface.
	LocalAddress *HostName
	// ReachableHostName and ReachablePort are where outsiders connect:
	// through a relay, its configured public host (or the bound address).
	// ReachableHostName is nil when unknown.
	ReachableHostName *HostName
	ReachablePort     string
}

// Control returns the listener's options.
func (l *StreamSocketListener) Control() *StreamSocketListenerControl { return &l.control }

// Information returns the bound endpoint; before Bind it is empty.
func (l *StreamSocketListener) Information() StreamSocketListenerInformation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// BindServiceName listens on service (a port number, a well-known name, or
// "" for any free port). Directly that is every interface; through a relay,
// the relay's default listen address for the app.
func (l *StreamSocketListener) BindServiceName(ctx context.Context, service string) error {
	return l.bind(ctx, nil, service)
}

// BindEndpoint listens on localHost (an IP address; nil as in
// BindServiceName) and service ("" for any free port).
func (l *StreamSocketListener) BindEndpoint(ctx context.Context, localHost *HostName, service string) error {
	return l.bind(ctx, localHost, service)
}

var errAlreadyBound = errors.New("listener is already bound")

func (l *StreamSocketListener) bind(ctx context.Context, host *HostName, service string) error {
	addr := joinHostService(host, service)
	port, err := ParseServiceName(service, true)
	if err != nil {
		return wrapErr("bind", addr, err)
	}
	h := ""
	if host != nil {
		if host.Type() != HostNameIPv4 && host.Type() != HostNameIPv6 {
			return wrapErr("bind", addr, errf("bind to %q: want an IP address: %w", host.CanonicalName(), ErrInvalidArgument))
		}
		h = host.CanonicalName()
	}
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return wrapErr("bind", addr, net.ErrClosed)
	case l.ln != nil:
		l.mu.Unlock()
		return wrapErr("bind", addr, errAlreadyBound)
	}
	t := l.Transport
	l.mu.Unlock()
	if t == nil {
		t = DefaultTransport
	}
	o := listenOptions{
		keepAlive:  l.control.KeepAlive(),
		noDelay:    l.control.NoDelay(),
		lowLatency: l.control.QualityOfService() == QualityOfServiceLowLatency,
		sendBuffer: l.control.OutboundBufferSizeInBytes(),
		hopLimit:   l.control.OutboundUnicastHopLimit(),
	}
	ln, err := t.listenStream(ctx, h, port, o)
	if err != nil {
		return wrapErr("bind", addr, err)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		ln.close()
		return wrapErr("bind", addr, net.ErrClosed)
	}
	l.ln = ln
	l.info.LocalAddress, l.info.LocalPort = endpoint(tcpAddrPort(ln.addr()))
	if rh, rp := ln.reachable(); rp != 0 {
		l.info.ReachablePort = strconv.Itoa(int(rp))
		if rh != "" {
			l.info.ReachableHostName, _ = NewHostName(rh)
		}
	}
	handler := l.ConnectionReceived
	l.mu.Unlock()
	if handler != nil {
		go func() {
			for {
				s, err := l.acceptSocket()
				if err != nil {
					return
				}
				go handler(l, s)
			}
		}()
	}
	return nil
}

func (l *StreamSocketListener) bound() (streamListener, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		if l.closed {
			return nil, net.ErrClosed
		}
		return nil, errf("listener is not bound: %w", ErrInvalidArgument)
	}
	return l.ln, nil
}

// Accept waits for the next connection and returns it as a *StreamSocket.
// After Close it fails with an error satisfying errors.Is(err,
// net.ErrClosed); when the relay session ends, with the session's error.
func (l *StreamSocketListener) Accept() (net.Conn, error) {
	if l.ConnectionReceived != nil {
		return nil, wrapErr("accept", "", errf("connections go to ConnectionReceived: %w", ErrInvalidArgument))
	}
	s, err := l.acceptSocket()
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (l *StreamSocketListener) acceptSocket() (*StreamSocket, error) {
	ln, err := l.bound()
	if err != nil {
		return nil, wrapErr("accept", "", err)
	}
	c, err := ln.accept()
	if err != nil {
		if l.isClosed() {
			err = net.ErrClosed
		}
		return nil, wrapErr("accept", "", err)
	}
	s := &StreamSocket{Transport: l.Transport, conn: c}
	s.info.setEndpoints(c)
	s.info.RemoteHostName, s.info.RemoteServiceName = s.info.RemoteAddress, s.info.RemotePort
	s.control.SetKeepAlive(l.control.KeepAlive())
	s.control.SetNoDelay(l.control.NoDelay())
	s.control.SetQualityOfService(l.control.QualityOfService())
	return s, nil
}

func (l *StreamSocketListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Addr is the bound address (through a relay: on the relay); nil before
// Bind.
func (l *StreamSocketListener) Addr() net.Addr {
	if ln, err := l.bound(); err == nil {
		return ln.addr()
	}
	return nil
}

// Close stops listening and frees the port (WinRT's Dispose). Accepted
// sockets stay open.
func (l *StreamSocketListener) Close() error {
	l.mu.Lock()
	ln, already := l.ln, l.closed
	l.closed = true
	l.mu.Unlock()
	if already {
		return wrapErr("close", "", net.ErrClosed)
	}
	if ln == nil {
		return nil
	}
	return wrapErr("close", "", ln.close())
}

var _ net.Listener = (*StreamSocketListener)(nil)
