package relay

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/tcpctl"
	"github.com/sockshim/sockshim/internal/wisp"
)

// This file is the relay's side of ExtTCPControl (docs/PROTOCOL.md, "TCP
// options and statistics"): a CONNECT_OPTIONS stream's socket options on
// the real socket, and STATS, the real connection's TCP_INFO, on request.

// connectOptions opens a TCP stream with socket options (CONNECT_OPTIONS).
// Before both sides negotiated the extension it is ignored, like any
// unknown extension packet.
func (s *session) connectOptions(p *wisp.Packet) {
	if !s.ext.TCPControl || s.srv.opts.Edge != nil {
		return
	}
	o, host, port, err := wisp.ParseConnectOptions(p.Data)
	if err != nil {
		s.log.Info("relay: malformed CONNECT_OPTIONS", "stream", p.StreamID, "err", err)
		s.closeStream(p.StreamID, wisp.ReasonInvalid)
		return
	}
	s.connect(&wisp.Packet{Type: wisp.TypeConnect, StreamID: p.StreamID, StreamType: wisp.StreamTCP, Host: host, Port: port}, o)
}

// listenOptions opens a listener whose accepted connections get socket
// options (LISTEN_OPTIONS). Before both sides negotiated the extensions it
// is ignored, like any unknown extension packet.
func (s *session) listenOptions(p *wisp.Packet) {
	if !s.ext.TCPControl || !s.ext.Listen || s.srv.opts.Edge != nil {
		return
	}
	o, req, err := wisp.ParseListenOptions(p.Data)
	s.listen(p.StreamID, req, tcpctl.Options{SendBuffer: int(o.SendBuffer), HopLimit: int(o.HopLimit)}, err)
}

// setAccepted puts a listener's options on a connection it accepted:
// TCP_NODELAY and keep-alive from the LISTEN flags, and the socket options
// again (the listening socket had them when the relay bound it; an
// injected Binder's may not), before the client hears of the connection.
func setAccepted(c net.Conn, flags uint8, o tcpctl.Options) error {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(flags&wisp.ListenNoDelay != 0)
		tc.SetKeepAlive(flags&wisp.ListenKeepAlive != 0)
	}
	if o == (tcpctl.Options{}) {
		return nil
	}
	return setAfterConnect(c, o)
}

// statsRequest answers STATS_REQUEST with the stream's TCP_INFO. A stream
// that is not (or no longer) open is not answered: its CLOSE tells the
// client.
func (s *session) statsRequest(p *wisp.Packet) {
	if !s.ext.TCPControl {
		return
	}
	nonce, err := wisp.ParseStatsRequest(p.Data)
	if err != nil {
		s.closeStream(p.StreamID, wisp.ReasonInvalid)
		return
	}
	st := s.member(p.StreamID).tcp
	if st == nil {
		return
	}
	st.mu.Lock()
	conn, opened := st.conn, st.openedAt
	st.mu.Unlock()
	if conn == nil {
		return
	}
	stats := wisp.TCPStats{Nonce: nonce, ElapsedMicros: uint64(time.Since(opened).Microseconds())}
	if info, err := tcpctl.Read(conn); err == nil {
		stats.Valid, stats.AppLimited = true, info.AppLimited
		stats.RTT, stats.RTTVar, stats.MinRTT = info.RTT, info.RTTVar, info.MinRTT
		stats.DeliveryRate, stats.BytesAcked, stats.BytesReceived = info.DeliveryRate, info.BytesAcked, info.BytesReceived
		stats.SendBuffer = info.SendBuffer
	} // else (the edge's sockets, another OS): Valid stays false, every figure 0
	s.write(wisp.AppendStats(nil, st.id, stats))
}

// dialOptions dials target's addresses with the stream's options: the
// socket options before each connect, serial or overlapping attempts.
func (st *tcpStream) dialOptions(ctx context.Context, app *policy.App, target policy.Target) (net.Conn, error) {
	o := tcpctl.Options{SendBuffer: int(st.opts.SendBuffer), HopLimit: int(st.opts.HopLimit)}
	attempts := policy.DialAttempts{Serial: st.opts.Serialize}
	srv := st.s.srv
	if srv.dialer == nil {
		return srv.engine.DialTargetAttempts(ctx, &net.Dialer{Control: o.Control()}, app, policy.OpConnect, "tcp", target, attempts)
	}
	// An injected dialer has no socket to gate, so each address is
	// re-checked here, as DialTarget does before its own dials; options
	// go on its connection afterwards, if it has a socket.
	addrs := make([]netip.AddrPort, len(target.Addrs))
	for i, a := range target.Addrs {
		addrs[i] = netip.AddrPortFrom(a, target.Port)
	}
	c, err := policy.DialEach(ctx, addrs, attempts, func(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
		if err := srv.engine.CheckAddr(app, policy.OpConnect, ap); err != nil {
			return nil, err
		}
		return srv.dialer.DialContext(ctx, "tcp", ap.String())
	})
	if err != nil || o == (tcpctl.Options{}) {
		return c, err
	}
	if err := setAfterConnect(c, o); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func setAfterConnect(c net.Conn, o tcpctl.Options) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil // nothing to set it on: an injected dialer's own conn
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	network := "tcp6"
	if ap := addrPort(c.RemoteAddr()); ap.Addr().Unmap().Is4() {
		network = "tcp4"
	}
	return o.Control()(network, c.RemoteAddr().String(), rc)
}
