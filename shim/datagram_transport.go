package shim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

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

// datagramConn is one open UDP socket of a transport.
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

// relayDatagram is a UDP socket at the relay.
type relayDatagram struct{ c *wispclient.UDPConn }

func (t *relayTransport) datagram(ctx context.Context, req *datagramRequest) (datagramConn, error) {
	s, err := t.session(ctx)
	if err != nil {
		return nil, err
	}
	needsExt := req.remoteHost == "" || !req.opts.isZero() || req.reuse
	if needsExt && !s.Extension(wisp.ExtBoundUDP) {
		what := "socket options"
		if req.remoteHost == "" {
			what = "bound (unconnected) sockets"
		}
		relay := "this relay"
		if p, ok := s.Profile(); ok && p.Name != "" {
			relay = p.Name // the edge relay names itself
		}
		return nil, fmt.Errorf("UDP %s through %s: %w (it does not offer sockshim's bound UDP extension)", what, relay, ErrNotSupported)
	}
	var c *wispclient.UDPConn
	if req.remoteHost != "" {
		c, err = s.DialUDP(ctx, req.remoteHost, req.remotePort)
	} else {
		c, err = s.BindUDP(ctx, req.local, req.reuse)
	}
	if err != nil {
		return nil, err
	}
	if req.opts.inboundBuffer > 0 {
		c.SetInboundBuffer(int(req.opts.inboundBuffer))
	}
	if !req.opts.isZero() {
		o := wisp.UDPOptions{HopLimit: req.opts.hopLimit, DontFragment: req.opts.dontFragment, ReceiveBuffer: req.opts.inboundBuffer}
		if err := c.SetOptions(ctx, o); err != nil {
			c.Close()
			return nil, err
		}
	}
	if req.lowLatency {
		s.UseDataChannel(c) // in the background; the WebSocket carries datagrams until it opens
	}
	return relayDatagram{c}, nil
}

func (d relayDatagram) readFrom(b []byte) (int, netip.AddrPort, error) { return d.c.ReadFrom(b) }
func (d relayDatagram) write(b []byte) (int, error)                    { return d.c.Write(b) }
func (d relayDatagram) writeTo(b []byte, ap netip.AddrPort) (int, error) {
	return d.c.WriteTo(b, ap)
}
func (d relayDatagram) writeToHost(_ context.Context, b []byte, host string, port uint16) (int, error) {
	return d.c.WriteToHost(b, host, port)
}
func (d relayDatagram) join(ctx context.Context, g netip.Addr) error { return d.c.Join(ctx, g) }
func (d relayDatagram) local() netip.AddrPort {
	o, _ := d.c.Endpoints()
	return o.Local
}
func (d relayDatagram) remote() netip.AddrPort {
	o, _ := d.c.Endpoints()
	return o.Remote
}
func (d relayDatagram) setReadDeadline(t time.Time) error  { return d.c.SetReadDeadline(t) }
func (d relayDatagram) setWriteDeadline(t time.Time) error { return d.c.SetWriteDeadline(t) }
func (d relayDatagram) close() error                       { return d.c.Close() }

// datagramErr turns a datagram transport error into a *SocketError, with
// the statuses wrapErr does not know.
func datagramErr(op, addr string, err error) error {
	if err == nil {
		return nil
	}
	var se *SocketError
	if errors.As(err, &se) {
		return err
	}
	switch {
	case errors.Is(err, wispclient.ErrMessageTooLong):
		return &SocketError{Op: op, Addr: addr, Status: MessageTooLong, Err: err}
	case errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, ErrNotSupported):
		err = fmt.Errorf("%w: %v", ErrNotSupported, err)
	}
	return wrapErr(op, addr, err)
}
