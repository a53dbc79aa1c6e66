//go:build !js

package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/sockshim/sockshim/internal/policy"
	"github.com/sockshim/sockshim/internal/wisp"
)

// maxChannelBuffer is how many bytes may wait in a data channel before the
// relay drops datagrams instead of queueing more (UDP semantics).
const maxChannelBuffer = 1 << 20

type rtcServer struct {
	once sync.Once
	err  error // the options are invalid
}

func (s *Server) rtcEnabled() bool { return s.opts.WebRTC != nil }

// rtcAPI builds a pion API for one session. remoteOK filters remote
// candidate addresses (also peer-reflexive ones, which no signal carries),
// the second gate behind the per-candidate policy check.
func (s *Server) rtcAPI(remoteOK func(net.IP) bool) (*webrtc.API, error) {
	s.rtc.once.Do(func() { _, s.rtc.err = s.rtcSettings() })
	if s.rtc.err != nil {
		return nil, s.rtc.err
	}
	se, _ := s.rtcSettings()
	se.SetRemoteIPFilter(remoteOK)
	return webrtc.NewAPI(webrtc.WithSettingEngine(*se)), nil
}

func (s *Server) rtcSettings() (*webrtc.SettingEngine, error) {
	{
		o := s.opts.WebRTC
		se := &webrtc.SettingEngine{}
		lf := logging.NewDefaultLoggerFactory()
		lf.DefaultLogLevel = logging.LogLevelError
		se.LoggerFactory = lf
		if o.PortMin != 0 || o.PortMax != 0 {
			if err := se.SetEphemeralUDPPortRange(o.PortMin, o.PortMax); err != nil {
				return nil, fmt.Errorf("WebRTC port range %d-%d: %w", o.PortMin, o.PortMax, err)
			}
		}
		if len(o.PublicIPs) > 0 {
			if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
				External: o.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
			}); err != nil {
				return nil, fmt.Errorf("WebRTC public addresses: %w", err)
			}
		}
		if len(o.Interfaces) > 0 {
			ifs := slices.Clone(o.Interfaces)
			se.SetInterfaceFilter(func(name string) bool { return slices.Contains(ifs, name) })
		}
		se.SetIncludeLoopbackCandidate(o.Loopback)
		nets := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
		if o.UDP4Only {
			nets = nets[:1]
		}
		se.SetNetworkTypes(nets)
		// mDNS names cannot be checked by the policy: never resolve them.
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		return se, nil
	}
}

func (s *Server) iceServers() []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, is := range s.opts.WebRTC.ICEServers {
		out = append(out, webrtc.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	return out
}

// rtcPeer is a session's peer connection.
type rtcPeer struct {
	pc *webrtc.PeerConnection
}

// signal handles one SIGNAL packet from the client.
func (s *session) signal(b []byte) {
	if !s.srv.rtcEnabled() {
		return
	}
	kind, body, err := wisp.ParseSignal(b)
	if err != nil {
		s.log.Info("relay: bad WebRTC signal", "err", err)
		return
	}
	switch kind {
	case wisp.SignalOffer:
		if err := s.answer(body); err != nil {
			s.log.Info("relay: WebRTC offer refused", "err", err)
			s.write(wisp.AppendSignal(nil, wisp.SignalClose, []byte(err.Error())))
			s.closeRTC()
		}
	case wisp.SignalCandidate:
		var c webrtc.ICECandidateInit
		if json.Unmarshal(body, &c) != nil {
			return
		}
		if !s.candidateAllowed(c.Candidate) {
			return
		}
		s.mu.Lock()
		p := s.rtc
		s.mu.Unlock()
		if p != nil {
			p.pc.AddICECandidate(c)
		}
	case wisp.SignalClose:
		s.closeRTC()
	}
}

// candidateAllowed checks a remote candidate ("candidate:..." or
// "a=candidate:...") as OpICE: the relay would send to it. Host names
// (mDNS) cannot be checked and are refused.
func (s *session) candidateAllowed(line string) bool {
	line = strings.TrimPrefix(strings.TrimSpace(line), "a=")
	if line == "" {
		return false
	}
	c, err := ice.UnmarshalCandidate(line)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(c.Address())
	if err != nil {
		s.log.Debug("relay: ICE candidate without an address refused", "address", c.Address())
		return false
	}
	return s.srv.engine.CheckAddr(s.app().policy, policy.OpICE, netip.AddrPortFrom(a, uint16(c.Port()))) == nil
}

// filterSDP drops the candidates the policy denies from a remote SDP.
func (s *session) filterSDP(sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(l, "a=candidate:") && !s.candidateAllowed(l) {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

func (s *session) answer(body []byte) error {
	var offer webrtc.SessionDescription
	if err := json.Unmarshal(body, &offer); err != nil || offer.Type != webrtc.SDPTypeOffer {
		return fmt.Errorf("offer is not an RTCSessionDescription of type offer (%v)", err)
	}
	if s.app().cfg == nil {
		return errors.New("no app: no network")
	}
	api, err := s.srv.rtcAPI(func(ip net.IP) bool {
		a, ok := netip.AddrFromSlice(ip)
		// The port is not known here; 9 (discard) stands in, so the
		// address class and capabilities decide.
		return ok && s.srv.engine.CheckAddr(s.app().policy, policy.OpICE, netip.AddrPortFrom(a.Unmap(), 9)) == nil
	})
	if err != nil {
		return err
	}
	s.closeRTC() // a new offer replaces the peer

	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: s.srv.iceServers()})
	if err != nil {
		return err
	}
	p := &rtcPeer{pc: pc}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		pc.Close()
		return errors.New("session closing")
	}
	s.rtc = p
	s.mu.Unlock()
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { s.attachChannel(dc) })
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("relay: WebRTC peer", "state", st.String())
		if st == webrtc.PeerConnectionStateFailed {
			s.closeRTC()
		}
	})

	offer.SDP = s.filterSDP(offer.SDP)
	if err := pc.SetRemoteDescription(offer); err != nil {
		return err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return err
	}
	// Answer with every candidate: one message, no trickling. Gathering
	// runs off the session reader so other streams go on meanwhile.
	go func() {
		select {
		case <-gathered:
		case <-s.ctx.Done():
			return
		}
		b, err := json.Marshal(pc.LocalDescription())
		if err == nil {
			s.write(wisp.AppendSignal(nil, wisp.SignalAnswer, b))
		}
	}()
	return nil
}

// attachChannel connects a data channel labelled "udp/<stream id>" to that
// UDP stream: while it is open, datagrams travel on it both ways. Every
// destination is still checked by the stream's socket.
func (s *session) attachChannel(dc *webrtc.DataChannel) {
	idStr, ok := strings.CutPrefix(dc.Label(), "udp/")
	id, err := strconv.ParseUint(idStr, 10, 32)
	if !ok || err != nil {
		if dc.Label() != "sockshim" { // the client's bootstrap channel stays idle
			dc.Close()
		}
		return
	}
	st := s.udpStream(uint32(id))
	if st == nil || dc.Ordered() {
		dc.Close()
		return
	}
	link := &wisp.ChannelLink{Send: func(b []byte) error {
		if dc.BufferedAmount() > maxChannelBuffer {
			st.dropped.Add(1)
			return nil
		}
		return dc.Send(b)
	}}
	dc.OnOpen(func() {
		if !st.done.Done() {
			st.link.Open(link)
		}
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if !m.IsString {
			s.srv.dcDatagrams.Add(1)
			st.fromChannel(m.Data)
		}
	})
	dc.OnClose(func() { st.link.Closed(link) })
	st.mu.Lock()
	st.channel = dc
	st.mu.Unlock()
	if st.done.Done() {
		dc.Close()
	}
}

// closeRTC closes the session's peer connection, if any.
func (s *session) closeRTC() {
	s.mu.Lock()
	p := s.rtc
	s.rtc = nil
	s.mu.Unlock()
	if p != nil {
		go p.pc.Close() // Close waits for pion's goroutines; never on the reader
	}
}
