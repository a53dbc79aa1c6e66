//go:build !js

package wispclient

import (
	"errors"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// newPeerConnection makes a native peer: loopback candidates included (a
// relay on the same host is reachable), mDNS off (the relay never resolves
// .local names), UDP over IPv4 and IPv6.
func newPeerConnection() (rtcPeerConn, error) {
	var se webrtc.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	se.LoggerFactory = lf
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	return pionPeer{pc}, nil
}

// pionPeer is rtcPeerConn on pion.
type pionPeer struct{ pc *webrtc.PeerConnection }

func (p pionPeer) CreateDataChannel(label string, unreliable bool) (rtcChannel, error) {
	var init *webrtc.DataChannelInit
	if unreliable {
		ordered, zero := false, uint16(0)
		init = &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &zero}
	}
	dc, err := p.pc.CreateDataChannel(label, init)
	if err != nil {
		return nil, err
	}
	return pionChannel{dc}, nil
}

func (p pionPeer) OnConnectionStateChange(f func(string)) {
	p.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { f(st.String()) })
}

func (p pionPeer) SetLocalOffer() (<-chan struct{}, error) {
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	return gathered, p.pc.SetLocalDescription(o)
}

func (p pionPeer) LocalDescription() (sessionDescription, error) {
	d := p.pc.LocalDescription()
	if d == nil {
		return sessionDescription{}, errors.New("webrtc: no local description")
	}
	return sessionDescription{Type: d.Type.String(), SDP: d.SDP}, nil
}

func (p pionPeer) SetRemoteDescription(d sessionDescription) error {
	return p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.NewSDPType(d.Type), SDP: d.SDP})
}

func (p pionPeer) AddICECandidate(c iceCandidateInit) error {
	return p.pc.AddICECandidate(webrtc.ICECandidateInit(c))
}

func (p pionPeer) Close() error { return p.pc.Close() }

// pionChannel is rtcChannel on pion.
type pionChannel struct{ dc *webrtc.DataChannel }

func (c pionChannel) Send(b []byte) error    { return c.dc.Send(b) }
func (c pionChannel) BufferedAmount() uint64 { return c.dc.BufferedAmount() }
func (c pionChannel) OnOpen(f func())        { c.dc.OnOpen(f) }
func (c pionChannel) OnClose(f func())       { c.dc.OnClose(f) }
func (c pionChannel) Close() error           { return c.dc.Close() }

func (c pionChannel) OnMessage(f func([]byte)) {
	c.dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if !m.IsString {
			f(m.Data)
		}
	})
}
