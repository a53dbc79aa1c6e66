//go:build !js

package shim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/sockshim/sockshim/internal/udpopt"
	"github.com/sockshim/sockshim/internal/udpsock"
)

// directDatagram is an operating-system UDP socket under the local policy.
type directDatagram struct {
	s *udpsock.Socket
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
		return nil, notSupported(err)
	}
	if !req.opts.isZero() {
		o := udpopt.Options{HopLimit: int(req.opts.hopLimit), DontFragment: req.opts.dontFragment, ReceiveBuffer: int(req.opts.inboundBuffer)}
		if err := sock.SetOptions(o); err != nil {
			sock.Close()
			return nil, notSupported(err)
		}
	}
	return directDatagram{sock}, nil
}

func notSupported(err error) error {
	if errors.Is(err, udpopt.ErrNotSupported) {
		return fmt.Errorf("%w: %v", ErrNotSupported, err)
	}
	return err
}

func (d directDatagram) readFrom(b []byte) (int, netip.AddrPort, error) { return d.s.ReadFrom(b) }
func (d directDatagram) write(b []byte) (int, error)                    { return d.s.Write(b) }
func (d directDatagram) writeTo(b []byte, ap netip.AddrPort) (int, error) {
	return d.s.WriteTo(b, ap)
}
func (d directDatagram) writeToHost(ctx context.Context, b []byte, host string, port uint16) (int, error) {
	return d.s.WriteToHost(ctx, b, host, port)
}
func (d directDatagram) join(_ context.Context, g netip.Addr) error { return d.s.Join(g) }
func (d directDatagram) local() netip.AddrPort                      { return d.s.LocalAddr() }
func (d directDatagram) remote() netip.AddrPort {
	ap, _ := d.s.Connected()
	return ap
}
func (d directDatagram) setReadDeadline(t time.Time) error  { return d.s.Conn().SetReadDeadline(t) }
func (d directDatagram) setWriteDeadline(t time.Time) error { return d.s.Conn().SetWriteDeadline(t) }
func (d directDatagram) close() error                       { return d.s.Close() }
