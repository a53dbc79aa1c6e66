package relay

import (
	"errors"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/sockshim/sockshim/internal/udpopt"
	"github.com/sockshim/sockshim/internal/wisp"
)

// Held UDP sockets. UDP has no flow control to push a peer back with, so
// a held datagram socket keeps what arrives up to the same byte bounds as a
// stream (broker.maxBytesPerSocket, broker.maxBytes) and at most
// maxHeldDatagrams datagrams, and drops (and counts) every datagram past
// them, as a full socket buffer would.

// maxHeldDatagrams bounds the datagrams one held socket keeps, whatever
// their size (empty datagrams would otherwise cost nothing).
const maxHeldDatagrams = 4096

// heldDatagram is one datagram a held socket received (peer: its source,
// for a bound socket).
type heldDatagram struct {
	peer netip.AddrPort
	data []byte
}

// transferUDP hands a UDP stream to the broker; it runs on the session
// reader, after every DATAGRAM the client sent before.
func (s *session) transferUDP(st *udpStream, h *held, t wisp.Transfer, fail func(wisp.CloseReason, string)) {
	b := s.srv.broker
	st.mu.Lock()
	sock := st.sock
	st.mu.Unlock()
	if sock == nil || st.done.Done() || st.keepSock.Load() {
		fail(wisp.ReasonInvalid, "the UDP socket is not open")
		return
	}
	h.kind, h.udp, h.bound = wisp.HeldDatagram, sock, st.bound
	if r := b.reserve(h.app, h.cfg, h); r != 0 {
		fail(r, "broker limits or socket id in use")
		return
	}
	b.mu.Lock()
	b.pending[pendingKey{s, st.id}] = h
	b.mu.Unlock()
	st.keepSock.Store(true)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		s.handoffUDP(st, h, t.KeepAlive)
	}()
}

// handoffUDP lets st's writer send what the client queued, stops its
// reader and moves the socket into the broker.
func (s *session) handoffUDP(st *udpStream, h *held, keepAlive time.Duration) {
	b := s.srv.broker
	timer := time.NewTimer(handoffTimeout)
	defer timer.Stop()
	ack := make(chan struct{})
	ok := true
	select {
	case st.queue <- udpItem{ack: ack}:
	case <-st.done.C:
		ok = false
	case <-timer.C:
		ok = false
	}
	if ok {
		select {
		case <-ack:
		case <-st.done.C:
			ok = false
		case <-timer.C:
			ok = false
		}
	}
	if ok {
		// The stream ends without closing its socket (keepSock).
		st.close(0)
		h.udp.Conn().SetReadDeadline(time.Now())
		select {
		case <-st.readerDone.C:
		case <-timer.C:
			ok = false
		}
	}
	if !ok {
		b.mu.Lock()
		delete(b.pending, pendingKey{s, st.id})
		b.mu.Unlock()
		b.drop(h)
		b.refused.Add(1)
		h.udp.Close()
		st.close(wisp.ReasonNetworkError)
		s.write(wisp.AppendTransferred(nil, st.id, wisp.ReasonNetworkError))
		return
	}
	h.udp.Conn().SetReadDeadline(time.Time{})
	b.activate(h, keepAlive)
	s.write(wisp.AppendTransferred(nil, st.id, 0))
	s.log.Info("relay: UDP socket transferred to the broker", "stream", st.id, "socket", h.id, "local", h.udp.LocalAddr().String(), "bound", h.bound)
	select { // the client's unread datagrams follow (UNREAD)
	case <-h.unreadDone.C:
	case <-s.ctx.Done():
	case <-h.stop.C:
	}
	b.mu.Lock()
	delete(b.pending, pendingKey{s, st.id})
	b.mu.Unlock()
	h.unreadDone.Close()
}

// unreadDatagram keeps one datagram of a UDP transfer's UNREAD (one
// datagram per packet; for a bound socket the payload starts with its
// peer, as in DATAGRAM). Called with b.mu held.
func (b *broker) unreadDatagram(h *held, data []byte) {
	d := heldDatagram{data: append([]byte(nil), data...)}
	if h.bound {
		peer, rest, err := wisp.ParseDatagram(data)
		if err != nil {
			b.droppedDatagrams.Add(1)
			return
		}
		d = heldDatagram{peer: peer, data: append([]byte(nil), rest...)}
	}
	a := b.apps[h.app]
	h.mu.Lock()
	defer h.mu.Unlock()
	if a == nil || !h.fitsLocked(a, len(d.data)) {
		b.droppedDatagrams.Add(1)
		return
	}
	h.unreadDgrams = append(h.unreadDgrams, d)
	h.dgramBytes += len(d.data)
	a.bytes += int64(len(d.data))
	b.bytes.Add(int64(len(d.data)))
}

// fitsLocked reports whether one more datagram of n bytes stays within h's
// bounds; h.mu and b.mu are held.
func (h *held) fitsLocked(a *brokerApp, n int) bool {
	return len(h.dgrams)+len(h.unreadDgrams) < maxHeldDatagrams &&
		int64(h.heldBytesLocked()+n) <= h.cfg.MaxBytesPerSocket &&
		a.bytes+int64(n) <= h.cfg.MaxBytes
}

// datagramLoop keeps what a held UDP socket receives (the socket's policy
// still admits each datagram), dropping what passes the bounds.
func (h *held) datagramLoop() {
	b := h.b
	buf := make([]byte, udpopt.MaxPayload6)
	var seen *Config
	for {
		// A config reload decides the next datagrams, as it does a
		// session's sockets (the socket admits peers by its app).
		if c := b.srv.Config(); c != seen {
			seen = c
			if p := b.appPolicy(h.app); p != nil {
				h.udp.SetApp(p)
			}
		}
		n, peer, err := h.udp.ReadFrom(buf)
		if err != nil {
			if h.stop.Done() {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // an ICMP error on a connected socket: UDP goes on
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			h.mu.Lock()
			h.peerClosed = true
			h.reason = wisp.HeldClosed
			h.mu.Unlock()
			b.notify(h, wisp.HeldClosed)
			b.srv.log.Info("relay: held UDP socket failed", "app", h.app, "socket", h.id, "err", err)
			return
		}
		b.mu.Lock()
		a := b.apps[h.app]
		h.mu.Lock()
		kept := a != nil && h.fitsLocked(a, n)
		if kept {
			if !h.bound {
				peer = netip.AddrPort{}
			}
			h.dgrams = append(h.dgrams, heldDatagram{peer: peer, data: append([]byte(nil), buf[:n]...)})
			h.dgramBytes += n
			a.bytes += int64(n)
			if h.reason == wisp.HeldNone || h.reason == wisp.HeldKeepAliveExpired {
				h.reason = wisp.HeldActivity
			}
		} else {
			h.dropped++
		}
		h.mu.Unlock()
		b.mu.Unlock()
		if !kept {
			b.droppedDatagrams.Add(1)
			continue
		}
		b.bytes.Add(int64(n))
		b.notify(h, wisp.HeldActivity)
	}
}

// reclaimUDP attaches a held UDP socket to this session as stream id: OPENED,
// then the held datagrams in order (the client's unread ones first), then
// the live socket.
func (s *session) reclaimUDP(id uint32, h *held) {
	st := newUDPStream(s, id, h.bound)
	s.adopt(id, h, member{udp: st}, func() {
		h.mu.Lock()
		prefix := append(h.unreadDgrams, h.dgrams...)
		dropped := h.dropped
		h.mu.Unlock()
		s.log.Info("relay: UDP socket reclaimed from the broker", "stream", id, "socket", h.id, "datagrams", len(prefix), "dropped", dropped)
		app := s.app().policy
		h.udp.SetApp(app)
		st.serve(h.udp, app, prefix)
	})
}
