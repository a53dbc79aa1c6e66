//go:build !js

package wispclient

import (
	"encoding/json"
	"testing"

	"github.com/pion/webrtc/v4"
)

// The relay parses SIGNAL bodies with pion's types; the client's own types
// (which the browser build uses without pion) must put the same bytes on
// the wire and read what pion writes.
func TestSignalJSONMatchesPion(t *testing.T) {
	sdp := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=x:<&>\"\\é\r\n"
	for _, typ := range []webrtc.SDPType{webrtc.SDPTypeOffer, webrtc.SDPTypeAnswer} {
		want, err := json.Marshal(webrtc.SessionDescription{Type: typ, SDP: sdp})
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(sessionDescription{Type: typ.String(), SDP: sdp})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("session description:\n got %s\nwant %s", got, want)
		}
		d, err := parseSessionDescription(want)
		if err != nil || d.Type != typ.String() || d.SDP != sdp {
			t.Errorf("parse %s: %+v, %v", want, d, err)
		}
	}
	if d, err := parseSessionDescription([]byte(`{"type":"ANSWER","sdp":"v=0"}`)); err != nil || d.Type != "answer" {
		t.Errorf("upper-case type (pion accepts it): %+v, %v", d, err)
	}
	if _, err := parseSessionDescription([]byte(`{"type":"bogus","sdp":"v=0"}`)); err == nil {
		t.Error("unknown type accepted (pion refuses it)")
	}

	mid, idx, ufrag := "0", uint16(3), "abcd"
	for _, c := range []webrtc.ICECandidateInit{
		{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"},
		{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", SDPMid: &mid, SDPMLineIndex: &idx, UsernameFragment: &ufrag},
	} {
		want, _ := json.Marshal(c)
		got, _ := json.Marshal(iceCandidateInit(c))
		if string(got) != string(want) {
			t.Errorf("candidate:\n got %s\nwant %s", got, want)
		}
		var back iceCandidateInit
		if err := json.Unmarshal(want, &back); err != nil {
			t.Fatal(err)
		}
		if again, _ := json.Marshal(webrtc.ICECandidateInit(back)); string(again) != string(want) {
			t.Errorf("candidate round trip: %s, want %s", again, want)
		}
	}
}
