package wispclient

import (
	"errors"
	"testing"

	"github.com/sockshim/sockshim/internal/netutil"
	"github.com/sockshim/sockshim/internal/wisp"
)

func newTableSession() *Session {
	return &Session{done: netutil.NewOnce(), ids: map[uint32]entry{}, nextID: 1}
}

// TestRegisterOneIDSpace: TCP streams, UDP sockets and listeners share one
// id table, so no two of them ever get the same id, whatever opened them.
func TestRegisterOneIDSpace(t *testing.T) {
	t.Parallel()
	s := newTableSession()
	seen := map[uint32]bool{}
	for i := 0; i < 300; i++ {
		var e entry
		switch i % 3 {
		case 0:
			e.stream = newStream(s, wisp.StreamTCP)
		case 1:
			e.udp = &UDPConn{s: s}
		case 2:
			e.listener = &Listener{s: s}
		}
		id, err := s.register(e, 0)
		if err != nil {
			t.Fatal(err)
		}
		if id == 0 || id&wisp.RelayStreamBit != 0 || seen[id] {
			t.Fatalf("register gave id %#x (seen before: %v)", id, seen[id])
		}
		seen[id] = true
		if got := s.lookup(id).owner(); got != e.owner() {
			t.Fatalf("lookup(%d) = %v, want %v", id, got, e.owner())
		}
	}
	// Wrapping around skips 0, the relay's half and ids in use.
	s.nextID = wisp.RelayStreamBit - 1
	used := &Listener{s: s}
	if id, _ := s.register(entry{listener: used}, 0); id != wisp.RelayStreamBit-1 {
		t.Fatalf("id %#x, want %#x", id, wisp.RelayStreamBit-1)
	}
	if id, _ := s.register(entry{udp: &UDPConn{s: s}}, 0); id != 301 {
		t.Fatalf("after wrap-around: id %d, want 301 (1-300 are in use)", id)
	}
	// forget frees an id only for its owner.
	s.forget(1, &Stream{})
	if s.lookup(1).owner() == nil {
		t.Fatal("forget by a stranger freed id 1")
	}
	owner := s.lookup(1).owner()
	s.forget(1, owner)
	if s.lookup(1).owner() != nil {
		t.Fatal("forget by the owner kept id 1")
	}
}

// TestRegisterRelayIDs: a relay-initiated stream needs the high bit and a
// free id; a session that ended registers nothing.
func TestRegisterRelayIDs(t *testing.T) {
	t.Parallel()
	s := newTableSession()
	client, _ := s.register(entry{listener: &Listener{s: s}}, 0)
	if _, err := s.register(entry{stream: newStream(s, wisp.StreamTCP)}, client); !errors.Is(err, wisp.ErrMalformed) {
		t.Errorf("relay stream on client id %d: %v, want ErrMalformed", client, err)
	}
	relayID := uint32(wisp.RelayStreamBit | 7)
	if _, err := s.register(entry{stream: newStream(s, wisp.StreamTCP)}, relayID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.register(entry{stream: newStream(s, wisp.StreamTCP)}, relayID); !errors.Is(err, wisp.ErrMalformed) {
		t.Errorf("relay stream on an open id: %v, want ErrMalformed", err)
	}
	s.closeErr = errors.New("gone")
	s.done.Close()
	if _, err := s.register(entry{udp: &UDPConn{s: s}}, 0); !errors.Is(err, ErrSessionLost) {
		t.Errorf("register after the session ended: %v, want ErrSessionLost", err)
	}
}
