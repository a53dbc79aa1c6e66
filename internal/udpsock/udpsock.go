// Package udpsock is a policy-checked operating-system UDP socket, shared by
// the relay (for its clients' UDP streams) and the shim's direct transport,
// so both decide datagrams the same way:
//
//   - a connected socket's destination is checked once, by Dial (the kernel
//     then only exchanges datagrams with that peer);
//   - an unconnected socket checks every outgoing datagram's destination
//     (OpDatagram) and every incoming datagram's source: a peer the socket
//     has sent to is a reply (OpDatagram), any other peer is inbound
//     (OpAccept). Denied incoming datagrams are dropped;
//   - a multicast group may be sent to only after joining it, and joining
//     needs privateNetworkClientServer.
package udpsock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/udpopt"
)

// nameTTL is how long a host name's checked answer is reused by WriteToHost.
const nameTTL = 30 * time.Second

// maxPeers bounds the set of peers an unconnected socket remembers sending
// to; past it the set is cleared (replies from forgotten peers are then
// judged as inbound).
const maxPeers = 4096

// Socket is one UDP socket.
type Socket struct {
	eng       *policy.Engine
	app       atomic.Pointer[policy.App] // SetApp replaces it (a relay's config reload)
	c         *net.UDPConn
	connected netip.AddrPort // valid when connected

	mu     sync.Mutex
	sent   map[netip.AddrPort]struct{}
	joined map[netip.Addr]struct{}
	names  map[string]nameEntry
}

type nameEntry struct {
	addr    netip.Addr
	expires time.Time
}

// Dial checks host:port (OpDatagram) and connects a socket to the first
// allowed answer.
func Dial(ctx context.Context, eng *policy.Engine, app *policy.App, host string, port uint16) (*Socket, error) {
	t, err := eng.Check(ctx, app, policy.OpDatagram, host, port)
	if err != nil {
		return nil, err
	}
	c, err := eng.DialTarget(ctx, nil, app, policy.OpDatagram, "udp", t)
	if err != nil {
		return nil, err
	}
	uc := c.(*net.UDPConn)
	sock := &Socket{eng: eng, c: uc, connected: uc.RemoteAddr().(*net.UDPAddr).AddrPort()}
	sock.app.Store(app)
	return sock, nil
}

// Bind opens an unconnected socket on local. An invalid local address means
// every interface. Binding an ephemeral port (0) on every interface is what
// a client socket does and needs only some capability; any other bind is
// checked as OpBind. reuse sets SO_REUSEADDR (several sockets on one
// multicast port).
func Bind(ctx context.Context, eng *policy.Engine, app *policy.App, local netip.AddrPort, reuse bool) (*Socket, error) {
	addr := local.Addr()
	if addr.IsValid() || local.Port() != 0 {
		check := local
		if !addr.IsValid() {
			check = netip.AddrPortFrom(netip.IPv4Unspecified(), local.Port())
		}
		if err := eng.CheckAddr(app, policy.OpBind, check); err != nil {
			return nil, err
		}
	} else if app == nil || app.Capabilities&policy.AllCapabilities == 0 {
		return nil, eng.CheckAddr(app, policy.OpBind, netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
	}
	var lc net.ListenConfig
	if reuse {
		lc.Control = udpopt.ReuseAddress
	}
	network, address := "udp", fmt.Sprintf(":%d", local.Port())
	if addr.IsValid() {
		addr = addr.Unmap()
		network, address = "udp6", netip.AddrPortFrom(addr, local.Port()).String()
		if addr.Is4() {
			network = "udp4"
		}
	}
	pc, err := lc.ListenPacket(ctx, network, address)
	if err != nil {
		return nil, err
	}
	sock := &Socket{eng: eng, c: pc.(*net.UDPConn)}
	sock.app.Store(app)
	return sock, nil
}

// SetApp makes app decide every later datagram destination and inbound
// peer (a config reload). It does not re-check a connected peer: see
// CheckConnected.
func (s *Socket) SetApp(app *policy.App) { s.app.Store(app) }

// CheckConnected re-checks a connected socket's peer for the current app;
// nil for an unconnected socket.
func (s *Socket) CheckConnected() error {
	if !s.connected.IsValid() {
		return nil
	}
	return s.eng.CheckAddr(s.app.Load(), policy.OpDatagram, s.connected)
}

// Conn is the underlying socket (for deadlines).
func (s *Socket) Conn() *net.UDPConn { return s.c }

// Connected reports the connected peer, if any.
func (s *Socket) Connected() (netip.AddrPort, bool) { return s.connected, s.connected.IsValid() }

// LocalAddr is the bound address.
func (s *Socket) LocalAddr() netip.AddrPort { return s.c.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close closes the socket.
func (s *Socket) Close() error { return s.c.Close() }

// errTooLong wraps EMSGSIZE, so callers map it like the kernel's.
func errTooLong(n, limit int) error {
	return fmt.Errorf("datagram of %d bytes over the %d-byte UDP limit: %w", n, limit, syscall.EMSGSIZE)
}

// Write sends one datagram on a connected socket.
func (s *Socket) Write(b []byte) (int, error) {
	if !s.connected.IsValid() {
		return 0, errors.New("udpsock: Write on an unconnected socket")
	}
	if limit := udpopt.MaxPayload(s.connected); len(b) > limit {
		return 0, errTooLong(len(b), limit)
	}
	return s.c.Write(b)
}

// WriteTo checks ap and sends one datagram to it. On a connected socket ap
// must be the connected peer.
func (s *Socket) WriteTo(b []byte, ap netip.AddrPort) (int, error) {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if s.connected.IsValid() {
		if ap != s.connected {
			return 0, fmt.Errorf("udpsock: socket is connected to %v, not %v: %w", s.connected, ap, syscall.EISCONN)
		}
		return s.Write(b)
	}
	if limit := udpopt.MaxPayload(ap); len(b) > limit {
		return 0, errTooLong(len(b), limit)
	}
	if err := s.checkDest(ap); err != nil {
		return 0, err
	}
	return s.c.WriteToUDPAddrPort(b, ap)
}

func (s *Socket) checkDest(ap netip.AddrPort) error {
	if ap.Addr().IsMulticast() {
		s.mu.Lock()
		_, ok := s.joined[ap.Addr()]
		s.mu.Unlock()
		if ok && ap.Port() != 0 {
			return nil
		}
	}
	if err := s.eng.CheckAddr(s.app.Load(), policy.OpDatagram, ap); err != nil {
		return err
	}
	s.mu.Lock()
	if s.sent == nil || len(s.sent) >= maxPeers {
		s.sent = map[netip.AddrPort]struct{}{}
	}
	s.sent[ap] = struct{}{}
	s.mu.Unlock()
	return nil
}

// WriteToHost resolves and checks host:port (an answer is reused for 30 s,
// its address re-checked on every datagram) and sends one datagram.
func (s *Socket) WriteToHost(ctx context.Context, b []byte, host string, port uint16) (int, error) {
	key := net.JoinHostPort(host, fmt.Sprint(port))
	s.mu.Lock()
	e, ok := s.names[key]
	s.mu.Unlock()
	if !ok || time.Now().After(e.expires) {
		t, err := s.eng.Check(ctx, s.app.Load(), policy.OpDatagram, host, port)
		if err != nil {
			return 0, err
		}
		e = nameEntry{addr: t.Addrs[0], expires: time.Now().Add(nameTTL)}
		s.mu.Lock()
		if s.names == nil || len(s.names) >= 256 {
			s.names = map[string]nameEntry{}
		}
		s.names[key] = e
		s.mu.Unlock()
	}
	return s.WriteTo(b, netip.AddrPortFrom(e.addr, port))
}

// ReadFrom reads the next datagram the policy admits.
func (s *Socket) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	for {
		n, ap, err := s.c.ReadFromUDPAddrPort(b)
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if err != nil || s.connected.IsValid() {
			return n, ap, err
		}
		if s.admit(ap) {
			return n, ap, nil
		}
	}
}

func (s *Socket) admit(ap netip.AddrPort) bool {
	s.mu.Lock()
	_, replied := s.sent[ap]
	s.mu.Unlock()
	if replied {
		return true
	}
	return s.eng.CheckAddr(s.app.Load(), policy.OpAccept, ap) == nil
}

// Join joins a multicast group; afterwards datagrams to the group are
// allowed. Needs privateNetworkClientServer.
func (s *Socket) Join(group netip.Addr) error {
	if !group.IsMulticast() {
		return &policy.Error{Op: policy.OpDatagram, Reason: policy.ReasonBadHost, Host: group.String()}
	}
	if app := s.app.Load(); app == nil || !app.Capabilities.Has(policy.PrivateNetworkClientServer) {
		return &policy.Error{Op: policy.OpDatagram, Reason: policy.ReasonNoCapability, Host: group.String()}
	}
	if err := udpopt.Join(s.c, group); err != nil {
		return err
	}
	s.mu.Lock()
	if s.joined == nil {
		s.joined = map[netip.Addr]struct{}{}
	}
	s.joined[group] = struct{}{}
	s.mu.Unlock()
	return nil
}

// SetOptions applies hop limit, don't-fragment and receive buffer.
func (s *Socket) SetOptions(o udpopt.Options) error { return udpopt.Apply(s.c, o) }
