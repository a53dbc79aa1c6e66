package wispclient

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sockshim/sockshim/internal/wisp"
)

// channelOpenTimeout is how long a socket waits for its data channel before
// it stays on the WebSocket for good.
const channelOpenTimeout = 15 * time.Second

// rtcClient is the session's one peer connection with the relay. The client
// offers (with a bootstrap channel, so the offer has its SCTP section) and
// sends its complete candidate list in one SIGNAL; each socket then opens
// its own unordered, maxRetransmits=0 channel "udp/<stream id>" without
// renegotiation.
type rtcClient struct {
	pc     *webrtc.PeerConnection
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
	ordered, zero := false, uint16(0)
	dc, err := r.pc.CreateDataChannel("udp/"+strconv.FormatUint(uint64(c.id), 10), &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &zero})
	if err != nil {
		return
	}
	link := &channelLink{send: func(b []byte) error {
		if dc.BufferedAmount() > maxChannelBuffer {
			c.dropped.Add(1)
			return nil
		}
		return dc.Send(b)
	}}
	opened := make(chan struct{})
	// OnMessage before the channel opens, or early messages are lost (js).
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if !m.IsString {
			c.fromChannel(m.Data)
		}
	})
	dc.OnOpen(func() {
		if !c.closed.Done() {
			c.link.Store(link)
		}
		close(opened)
	})
	dc.OnClose(func() { c.link.CompareAndSwap(link, nil) })
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
				c.link.CompareAndSwap(link, nil)
			case <-c.closed.C:
			}
		case <-t.C:
		case <-r.failed:
		case <-c.closed.C:
		}
		c.link.CompareAndSwap(link, nil)
		if c.closed.Done() || c.link.Load() == nil {
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
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
			r.fail()
		}
	})
	if _, err := pc.CreateDataChannel("sockshim", nil); err != nil {
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
	o, err := r.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(r.pc)
	if err := r.pc.SetLocalDescription(o); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-r.failed:
		return nil
	case <-time.After(channelOpenTimeout):
	}
	b, err := json.Marshal(r.pc.LocalDescription())
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
		var d webrtc.SessionDescription
		if json.Unmarshal(body, &d) != nil {
			r.fail()
			return
		}
		go func() {
			if r.pc.SetRemoteDescription(d) != nil {
				r.fail()
			}
		}()
	case wisp.SignalCandidate:
		var c webrtc.ICECandidateInit
		if json.Unmarshal(body, &c) == nil {
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
