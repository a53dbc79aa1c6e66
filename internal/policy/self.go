package policy

import (
	"net"
	"net/netip"
	"sync"
)

// SelfSet holds the addresses at which the relay itself is reachable, so that
// Engine.Self (set it to s.Contains) denies connections back into the relay.
// A listener on the unspecified address (0.0.0.0 or ::) on port P makes
// every loopback address, every interface address of this host and the
// unspecified address itself at port P "self". Add also every front end that
// forwards to the relay (a NAT or load balancer address and port): the relay
// cannot discover those. The zero value is empty and ready; safe for
// concurrent use.
type SelfSet struct {
	mu       sync.RWMutex
	exact    map[netip.AddrPort]int
	anyPorts map[uint16]int
	local    []netip.Addr
}

// Add records a listening (or forwarding) address; call Remove as often.
// Adding an unspecified address reads the host's interface addresses.
func (s *SelfSet) Add(ap netip.AddrPort) {
	ap = selfKey(ap)
	unspecified := ap.Addr().IsUnspecified()
	var local []netip.Addr
	if unspecified {
		local = interfaceAddrs()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if unspecified {
		if s.anyPorts == nil {
			s.anyPorts = map[uint16]int{}
		}
		s.anyPorts[ap.Port()]++
		s.local = local
		return
	}
	if s.exact == nil {
		s.exact = map[netip.AddrPort]int{}
	}
	s.exact[ap]++
}

// Remove undoes one Add of ap.
func (s *SelfSet) Remove(ap netip.AddrPort) {
	ap = selfKey(ap)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ap.Addr().IsUnspecified() {
		if s.anyPorts[ap.Port()]--; s.anyPorts[ap.Port()] <= 0 {
			delete(s.anyPorts, ap.Port())
		}
		return
	}
	if s.exact[ap]--; s.exact[ap] <= 0 {
		delete(s.exact, ap)
	}
}

// Refresh re-reads the host's interface addresses, for when they change.
func (s *SelfSet) Refresh() {
	local := interfaceAddrs()
	s.mu.Lock()
	s.local = local
	s.mu.Unlock()
}

// Contains reports whether ap reaches the relay itself.
func (s *SelfSet) Contains(ap netip.AddrPort) bool {
	ap = selfKey(ap)
	a := ap.Addr()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.exact[ap] > 0 {
		return true
	}
	if s.anyPorts[ap.Port()] == 0 {
		return false
	}
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	for _, l := range s.local {
		if l == a {
			return true
		}
	}
	return false
}

func interfaceAddrs() []netip.Addr {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		if p, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(p.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

func selfKey(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
}
