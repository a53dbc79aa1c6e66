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
		got, err := encodeSessionDescription(sessionDescription{Type: typ.String(), SDP: sdp})
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
		got, _ := encodeICECandidate(iceCandidateInit(c))
		if string(got) != string(want) {
			t.Errorf("candidate:\n got %s\nwant %s", got, want)
		}
		back, err := decodeICECandidate(want)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := json.Marshal(webrtc.ICECandidateInit(back)); string(again) != string(want) {
			t.Errorf("candidate round trip: %s, want %s", again, want)
		}
	}
}

// The fixtures that rtc_json_test.go holds both builds' encoders to
// (encoding/json natively, the browser's JSON.stringify in wasm) are what
// pion writes, and pion reads them back as the fixtures' values.
func TestSignalJSONFixturesArePions(t *testing.T) {
	for _, f := range sessionDescriptionFixtures {
		want := webrtc.SessionDescription{Type: webrtc.NewSDPType(f.d.Type), SDP: f.d.SDP}
		if b, err := json.Marshal(want); err != nil || string(b) != f.json {
			t.Errorf("pion writes %s, %v\n   fixture %s", b, err, f.json)
		}
		var got webrtc.SessionDescription
		if err := json.Unmarshal([]byte(f.json), &got); err != nil || got.Type != want.Type || got.SDP != want.SDP {
			t.Errorf("pion reads %s as %s %q, %v", f.json, got.Type, got.SDP, err)
		}
	}
	for _, f := range iceCandidateFixtures {
		if b, err := json.Marshal(webrtc.ICECandidateInit(f.c)); err != nil || string(b) != f.json {
			t.Errorf("pion writes %s, %v\n   fixture %s", b, err, f.json)
		}
		var got webrtc.ICECandidateInit
		if err := json.Unmarshal([]byte(f.json), &got); err != nil || showCandidate(iceCandidateInit(got)) != showCandidate(f.c) {
			t.Errorf("pion reads %s as %s, %v", f.json, showCandidate(iceCandidateInit(got)), err)
		}
	}
}
