package wispclient

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sockshim/sockshim/internal/wisp"
)

// channelOpenTimeout is how long a socket waits for its data channel before
// it stays on the WebSocket for good.
const channelOpenTimeout = 15 * time.Second

// rtcPeerConn is the little of a WebRTC peer connection the client uses.
// Natively it is pion's (rtc_notjs.go); in a browser it is the browser's
// own RTCPeerConnection (rtc_js.go), so the wasm build does not link pion.
// Handlers run on the event loop in a browser: they must not block.
type rtcPeerConn interface {
	// CreateDataChannel opens a channel without renegotiation; unreliable
	// means unordered with maxRetransmits 0, otherwise the defaults.
	CreateDataChannel(label string, unreliable bool) (rtcChannel, error)
	// OnConnectionStateChange reports RTCPeerConnectionState values
	// ("connected", "failed", "closed", ...).
	OnConnectionStateChange(func(state string))
	// SetLocalOffer creates an offer and sets it as the local description;
	// gathered is closed when ICE gathering completes.
	SetLocalOffer() (gathered <-chan struct{}, err error)
	// LocalDescription is the current local description, candidates
	// gathered so far included.
	LocalDescription() (sessionDescription, error)
	SetRemoteDescription(sessionDescription) error
	AddICECandidate(iceCandidateInit) error
	Close() error
}

// rtcChannel is one data channel.
type rtcChannel interface {
	Send([]byte) error
	BufferedAmount() uint64
	OnMessage(func([]byte)) // binary messages only; text ones are dropped
	OnOpen(func())
	OnClose(func())
	Close() error
}

// sessionDescription is RTCSessionDescriptionInit as it travels in SIGNAL
// bodies: the JSON of pion's webrtc.SessionDescription, which the relay
// parses ({"type":"offer","sdp":"..."}). encodeSessionDescription and
// decodeSessionDescription write and read it: with encoding/json natively
// (rtc_json_notjs.go), with the browser's JSON in the wasm build
// (rtc_json_js.go), byte for byte the same.
type sessionDescription struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// iceCandidateInit is RTCIceCandidateInit as it travels in SIGNAL bodies:
// the JSON of pion's webrtc.ICECandidateInit, written and read by
// encodeICECandidate and decodeICECandidate. Absent and null optional
// fields decode as nil.
type iceCandidateInit struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex"`
	UsernameFragment *string `json:"usernameFragment"`
}

// parseSessionDescription reads a SIGNAL body; the type is accepted in any
// case, as pion's webrtc.SDPType accepts it, and returned in lower case.
func parseSessionDescription(b []byte) (sessionDescription, error) {
	d, err := decodeSessionDescription(b)
	if err != nil {
		return d, err
	}
	d.Type = strings.ToLower(d.Type)
	switch d.Type {
	case "offer", "pranswer", "answer", "rollback":
		return d, nil
	case "":
		return d, errors.New("webrtc: session description without a type")
	}
	return d, errors.New("webrtc: unknown session description type " + strconv.Quote(d.Type))
}

// rtcClient is the session's one peer connection with the relay. The client
// offers (with a bootstrap channel, so the offer has its SCTP section) and
// sends its complete candidate list in one SIGNAL; each socket then opens
// its own unordered, maxRetransmits=0 channel "udp/<stream id>" without
// renegotiation.
type rtcClient struct {
	pc     rtcPeerConn
	failed chan struct{} // closed when the peer cannot be used
	once   sync.Once
}

func (r *rtcClient) fail() { r.once.Do(func() { close(r.failed) }) }

// UseDataChannel moves c's datagrams onto a WebRTC data channel when the
// relay offers WebRTC and the channel opens; until then, and whenever it
// cannot, they travel on the WebSocket. It returns at once.
func (s *Session) UseDataChannel(c *UDPConn) {
	if !s.Extension(wisp.ExtWebRTC) {
		return
	}
	r := s.rtcPeer()
	if r == nil {
		return
	}
	dc, err := r.pc.CreateDataChannel("udp/"+strconv.FormatUint(uint64(c.id), 10), true)
	if err != nil {
		return
	}
	link := &wisp.ChannelLink{Send: func(b []byte) error {
		if dc.BufferedAmount() > maxChannelBuffer {
			c.dropped.Add(1)
			return nil
		}
		return dc.Send(b)
	}}
	opened := make(chan struct{})
	// OnMessage before the channel opens, or early messages are lost (js).
	dc.OnMessage(c.fromChannel)
	dc.OnOpen(func() {
		if !c.closed.Done() {
			c.link.Open(link)
		}
		close(opened)
	})
	dc.OnClose(func() { c.link.Closed(link) })
	c.mu.Lock()
	c.channel = dc
	c.mu.Unlock()
	go func() {
		t := time.NewTimer(channelOpenTimeout)
		defer t.Stop()
		select {
		case <-opened:
			select {
			case <-r.failed:
				c.link.Closed(link)
			case <-c.closed.C:
			}
		case <-t.C:
		case <-r.failed:
		case <-c.closed.C:
		}
		c.link.Closed(link)
		if c.closed.Done() || !c.link.IsOpen() {
			dc.Close()
		}
	}()
}

// maxChannelBuffer is how many bytes may wait in a data channel before
// datagrams are dropped instead of queued (UDP semantics).
const maxChannelBuffer = 1 << 20

// rtcPeer returns the session's peer connection, creating it and sending
// the offer on first use; nil when WebRTC failed on this session.
func (s *Session) rtcPeer() *rtcClient {
	s.dg.mu.Lock()
	defer s.dg.mu.Unlock()
	if r := s.dg.rtc; r != nil {
		select {
		case <-r.failed:
			return nil // no second try on this session: the WebSocket works
		default:
			return r
		}
	}
	pc, err := newPeerConnection()
	if err != nil {
		return nil
	}
	r := &rtcClient{pc: pc, failed: make(chan struct{})}
	s.dg.rtc = r
	pc.OnConnectionStateChange(func(st string) {
		switch st {
		case "failed", "closed", "disconnected":
			r.fail()
		}
	})
	if _, err := pc.CreateDataChannel("sockshim", false); err != nil {
		r.fail()
		return nil
	}
	go func() {
		if err := s.offer(r); err != nil {
			r.fail()
		}
	}()
	go func() {
		select {
		case <-s.done.C:
		case <-r.failed:
		}
		r.fail()
		pc.Close()
	}()
	return r
}

func (s *Session) offer(r *rtcClient) error {
	gathered, err := r.pc.SetLocalOffer()
	if err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-r.failed:
		return nil
	case <-time.After(channelOpenTimeout):
	}
	d, err := r.pc.LocalDescription()
	if err != nil {
		return err
	}
	b, err := encodeSessionDescription(d)
	if err != nil {
		return err
	}
	return s.enqueue(wisp.AppendSignal(nil, wisp.SignalOffer, b))
}

// onSignal handles the relay's SIGNAL packets (on the session reader: it
// must not block).
func (s *Session) onSignal(b []byte) {
	kind, body, err := wisp.ParseSignal(b)
	if err != nil {
		return
	}
	s.dg.mu.Lock()
	r := s.dg.rtc
	s.dg.mu.Unlock()
	if r == nil {
		return
	}
	switch kind {
	case wisp.SignalAnswer:
		d, err := parseSessionDescription(body)
		if err != nil {
			r.fail()
			return
		}
		go func() {
			if r.pc.SetRemoteDescription(d) != nil {
				r.fail()
			}
		}()
	case wisp.SignalCandidate:
		if c, err := decodeICECandidate(body); err == nil {
			go r.pc.AddICECandidate(c)
		}
	case wisp.SignalClose:
		r.fail()
	}
}

// rtcRelease closes c's data channel, if it has one.
func (s *Session) rtcRelease(c *UDPConn) {
	c.mu.Lock()
	dc := c.channel
	c.channel = nil
	c.mu.Unlock()
	if dc != nil {
		go dc.Close()
	}
}
