package relay

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// WebRTCOptions configure the relay's WebRTC peer, which carries the
// datagrams of DatagramSockets with QualityOfService LowLatency on
// unordered, unreliable data channels (one message per datagram).
// Signalling rides the Wisp session (ExtWebRTC); the client offers, the
// relay answers, each with its complete candidate list.
type WebRTCOptions struct {
	// PortMin and PortMax bound the UDP ports ICE listens on; both zero
	// means any port. Open this range in the firewall.
	PortMin uint16 `json:"portMin"`
	PortMax uint16 `json:"portMax"`
	// PublicIPs are the relay's public addresses when it sits behind a 1:1
	// NAT (a cloud VM's elastic IP): they replace the private addresses in
	// the relay's host candidates.
	PublicIPs []string `json:"publicIPs"`
	// ICEServers are STUN or TURN servers the relay gathers candidates
	// from; a TURN server gives relayed candidates for clients that cannot
	// reach the relay's UDP ports directly.
	ICEServers []ICEServer `json:"iceServers"`
	// Interfaces limits ICE to these network interfaces (by name); nil
	// means every interface.
	Interfaces []string `json:"interfaces"`
	// Loopback adds loopback candidates (a relay used from the same host,
	// and tests). Browsers use them only with
	// --allow-loopback-in-peer-connection.
	Loopback bool `json:"loopback"`
	// UDP4Only gathers IPv4 candidates only.
	UDP4Only bool `json:"udp4Only"`
}

// ICEServer is a STUN or TURN server: URLs such as "stun:host:3478" or
// "turn:host:3478?transport=udp", with credentials for TURN.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// validate checks the port range, addresses and ICE servers; on error it
// names the key.
func (o *WebRTCOptions) validate() (string, error) {
	switch {
	case (o.PortMin == 0) != (o.PortMax == 0):
		return "portMin", fmt.Errorf("portMin %d and portMax %d: set both, or neither (any port)", o.PortMin, o.PortMax)
	case o.PortMin > o.PortMax:
		return "portMin", fmt.Errorf("portMin %d is above portMax %d", o.PortMin, o.PortMax)
	}
	for i, ip := range o.PublicIPs {
		if a, err := netip.ParseAddr(ip); err != nil || a.Zone() != "" {
			return fmt.Sprintf("publicIPs/%d", i), fmt.Errorf("%q: want an IP literal", ip)
		}
	}
	for i, s := range o.ICEServers {
		if len(s.URLs) == 0 {
			return fmt.Sprintf("iceServers/%d", i), errors.New("urls is required")
		}
		for j, u := range s.URLs {
			scheme, _, _ := strings.Cut(u, ":")
			switch scheme {
			case "stun", "stuns", "turn", "turns":
			default:
				return fmt.Sprintf("iceServers/%d/urls/%d", i, j), fmt.Errorf("%q: want a stun:, stuns:, turn: or turns: URL", u)
			}
		}
	}
	for i, name := range o.Interfaces {
		if name == "" {
			return fmt.Sprintf("interfaces/%d", i), errors.New("empty interface name")
		}
	}
	return "", nil
}
