package wispclient

import (
	"fmt"

	"github.com/sockshim/sockshim/internal/wisp"
)

// entry is what a stream id names in the session: exactly one of a TCP
// stream (client- or relay-initiated), a UDP socket or a listener.
type entry struct {
	stream   *Stream
	udp      *UDPConn
	listener *Listener
}

func (e entry) owner() any {
	switch {
	case e.stream != nil:
		return e.stream
	case e.udp != nil:
		return e.udp
	case e.listener != nil:
		return e.listener
	}
	return nil
}

// register is the one door into the session's id table (s.ids): every TCP
// stream, UDP socket and listener goes through it. With relayID 0 it picks
// a free client id (high bit clear, never 0); otherwise relayID is a
// relay-initiated stream's id, which must have wisp.RelayStreamBit set and
// be free (a *wisp.ErrMalformed error otherwise). A session that ended
// registers nothing.
func (s *Session) register(e entry, relayID uint32) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done.Done() {
		return 0, s.lost()
	}
	id := relayID
	if id != 0 {
		if id&wisp.RelayStreamBit == 0 {
			return 0, fmt.Errorf("%w: relay-initiated stream on client id %d", wisp.ErrMalformed, id)
		}
		if _, used := s.ids[id]; used {
			return 0, fmt.Errorf("%w: relay-initiated stream on open id %d", wisp.ErrMalformed, id)
		}
	} else {
		id = s.nextID
		for _, used := s.ids[id]; used || id == 0 || id&wisp.RelayStreamBit != 0; _, used = s.ids[id] {
			id = (id + 1) &^ wisp.RelayStreamBit
		}
		s.nextID = (id + 1) &^ wisp.RelayStreamBit
	}
	switch {
	case e.stream != nil:
		e.stream.id = id
	case e.udp != nil:
		e.udp.id = id
	case e.listener != nil:
		e.listener.id = id
	}
	s.ids[id] = e
	return id, nil
}

// lookup returns what id names (the zero entry if nothing).
func (s *Session) lookup(id uint32) entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// forget frees id if it still names owner.
func (s *Session) forget(id uint32, owner any) {
	s.mu.Lock()
	if e, ok := s.ids[id]; ok && e.owner() == owner {
		delete(s.ids, id)
	}
	s.mu.Unlock()
}
