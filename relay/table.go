package relay

import (
	"github.com/sockshim/sockshim/internal/wisp"
)

// member is what one stream id of a session names: exactly one of a TCP
// stream (client-opened or accepted by a listener), a UDP stream, or a
// listener.
type member struct {
	tcp *tcpStream
	udp *udpStream
	ln  *listener
}

func (m member) empty() bool { return m.tcp == nil && m.udp == nil && m.ln == nil }

// close ends the member; a non-zero reason is sent to the client.
func (m member) close(r wisp.CloseReason) {
	switch {
	case m.tcp != nil:
		m.tcp.abort(r)
	case m.udp != nil:
		m.udp.close(r)
	case m.ln != nil:
		m.ln.close()
		if r != 0 {
			m.ln.s.write(wisp.AppendClose(nil, m.ln.id, r))
		}
	}
}

// idTable is a session's one id space: every stream and listener, whoever
// opened it. Guarded by session.mu. Only session.register adds to it.
type idTable struct {
	m           map[uint32]member
	listeners   int    // members with ln set
	nextRelayID uint32 // of relay-initiated streams, without the high bit
}

func (t *idTable) get(id uint32) member { return t.m[id] }

func (t *idTable) put(id uint32, m member) {
	if t.m == nil {
		t.m = map[uint32]member{}
	}
	t.m[id] = m
	if m.ln != nil {
		t.listeners++
	}
}

// remove drops id and returns what it named.
func (t *idTable) remove(id uint32) member {
	m, ok := t.m[id]
	if ok {
		delete(t.m, id)
		if m.ln != nil {
			t.listeners--
		}
	}
	return m
}

// removeIf drops id only while it still names m; false if it did not.
func (t *idTable) removeIf(id uint32, m member) bool {
	if t.m[id] != m {
		return false
	}
	t.remove(id)
	return true
}

// take empties the table and returns what it held.
func (t *idTable) take() map[uint32]member {
	m := t.m
	t.m, t.listeners = nil, 0
	return m
}

// register is the one door into the session's id table. For a client id
// (id != 0) it checks the id space: not 0, not in the relay's half (the high
// bit), not in use; a CONNECT, BIND or LISTEN for an id in use closes what
// the id named and refuses the new one, both with ReasonInvalid. id 0 asks
// for a fresh relay-initiated id (high bit set), which is stored in m.tcp.
// Then it admits: listeners against the app's maxListeners, streams against
// the session's, the app's and the relay's stream limits (admitStream).
//
// On success the member is in the table and release gives its admission
// back (call it when the member's goroutines are done). On failure the
// client has been told (CLOSE with the reason) unless the session is
// closing, and ok is false.
func (s *session) register(id uint32, m member) (release func(), ok bool) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, false
	}
	relayID := id == 0
	if relayID {
		for {
			s.table.nextRelayID = (s.table.nextRelayID + 1) &^ wisp.RelayStreamBit
			id = s.table.nextRelayID | wisp.RelayStreamBit
			if s.table.nextRelayID != 0 && s.table.get(id).empty() {
				break
			}
		}
		m.tcp.id = id
	} else if id&wisp.RelayStreamBit != 0 {
		s.mu.Unlock()
		s.log.Info("relay: client used an id of the relay's half", "stream", id)
		s.write(wisp.AppendClose(nil, id, wisp.ReasonInvalid))
		return nil, false
	} else if old := s.table.remove(id); !old.empty() {
		s.mu.Unlock()
		s.log.Info("relay: open request for an id in use", "stream", id)
		old.close(wisp.ReasonInvalid) // the one CLOSE for this id
		return nil, false
	}
	if m.ln != nil {
		max := 0
		if lc := s.app().listen(); lc != nil {
			max = lc.maxListeners()
		}
		if max > 0 && s.table.listeners >= max {
			s.mu.Unlock()
			s.srv.metrics.throttled.Add(1)
			s.log.Info("relay: bind denied", "listener", id, "reason", "too_many_listeners", "max", max)
			s.write(wisp.AppendClose(nil, id, wisp.ReasonThrottled))
			return nil, false
		}
		s.table.put(id, m)
		s.mu.Unlock()
		return func() {}, true
	}
	release, ok = s.srv.admitStream(s.limits)
	if !ok {
		s.mu.Unlock()
		if relayID {
			// The client never learned this id: the connection is refused.
			s.log.Info("relay: inbound connection throttled", "stream", id)
		} else {
			s.refuseThrottled(id)
		}
		return nil, false
	}
	s.table.put(id, m)
	s.mu.Unlock()
	return release, true
}

// member returns what id names now.
func (s *session) member(id uint32) member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.get(id)
}

// unregister drops id if it still names m; false if it did not.
func (s *session) unregister(id uint32, m member) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.removeIf(id, m)
}
