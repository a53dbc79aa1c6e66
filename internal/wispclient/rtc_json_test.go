package wispclient

import (
	"fmt"
	"testing"
)

// These run natively (encoding/json) and compiled to wasm (the browser's
// JSON, rtc_json_js.go): both must put the same bytes on the wire and read
// the same values. TestSignalJSONFixturesArePions (rtc_notjs_test.go)
// checks that the fixtures are what pion, on the relay, writes.

// signalSDP has every character that JSON.stringify and encoding/json
// might write differently: quotes, backslashes, control characters,
// DEL, the HTML ones, U+2028/U+2029, non-ASCII and non-BMP (a surrogate
// pair in JavaScript).
const signalSDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=x:<&>\"\\/é\t\b\f\x00\x01\x1f\x7f\u2028\u2029\U0001F600\ufffd\r\n"

var sessionDescriptionFixtures = []struct {
	d    sessionDescription
	json string
}{
	{sessionDescription{Type: "offer", SDP: signalSDP},
		`{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=x:\u003c\u0026\u003e\"\\/é\t\b\f\u0000\u0001\u001f` + "\x7f" + `\u2028\u2029😀` + "\ufffd" + `\r\n"}`},
	{sessionDescription{Type: "answer", SDP: "v=0\r\n"}, `{"type":"answer","sdp":"v=0\r\n"}`},
	{sessionDescription{Type: "pranswer", SDP: ""}, `{"type":"pranswer","sdp":""}`},
}

var iceCandidateFixtures = []struct {
	c    iceCandidateInit
	json string
}{
	{iceCandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"},
		`{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":null,"sdpMLineIndex":null,"usernameFragment":null}`},
	{iceCandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", SDPMid: new("0"), SDPMLineIndex: new(uint16(3)), UsernameFragment: new("abcd")},
		`{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":3,"usernameFragment":"abcd"}`},
	{iceCandidateInit{Candidate: "", SDPMid: new(""), SDPMLineIndex: new(uint16(0)), UsernameFragment: new("")},
		`{"candidate":"","sdpMid":"","sdpMLineIndex":0,"usernameFragment":""}`},
	{iceCandidateInit{Candidate: "c<&>\u2028", SDPMid: new("a\"b"), SDPMLineIndex: new(uint16(65535))},
		`{"candidate":"c\u003c\u0026\u003e\u2028","sdpMid":"a\"b","sdpMLineIndex":65535,"usernameFragment":null}`},
}

func TestSignalJSONEncode(t *testing.T) {
	for _, f := range sessionDescriptionFixtures {
		if got, err := encodeSessionDescription(f.d); err != nil || string(got) != f.json {
			t.Errorf("encode %+q:\n got %s, %v\nwant %s", f.d, got, err, f.json)
		}
	}
	for _, f := range iceCandidateFixtures {
		if got, err := encodeICECandidate(f.c); err != nil || string(got) != f.json {
			t.Errorf("encode %s:\n got %s, %v\nwant %s", showCandidate(f.c), got, err, f.json)
		}
	}
}

func TestSignalJSONDecode(t *testing.T) {
	for _, f := range sessionDescriptionFixtures {
		if d, err := parseSessionDescription([]byte(f.json)); err != nil || d != f.d {
			t.Errorf("parse %s: %+q, %v", f.json, d, err)
		}
	}
	for _, c := range []struct{ in, typ, sdp string }{
		{`{"type":"ANSWER","sdp":"v=0"}`, "answer", "v=0"}, // pion accepts any case
		{`{"type":"answer"}`, "answer", ""},
		{`{"type":"answer","sdp":null}`, "answer", ""},
		{` {"sdp" : "v=0\u000d\n", "type":"Offer", "x":{"type":[1]}} ` + "\n", "offer", "v=0\r\n"},
		{`{"type":"offer","type":"answer","sdp":"a","sdp":"b"}`, "answer", "b"}, // the last wins
	} {
		if d, err := parseSessionDescription([]byte(c.in)); err != nil || d != (sessionDescription{Type: c.typ, SDP: c.sdp}) {
			t.Errorf("parse %s: %+q, %v", c.in, d, err)
		}
	}
	for _, in := range []string{
		`{"type":"bogus","sdp":"v=0"}`, // pion refuses it
		`{"sdp":"v=0"}`,
		`{"type":null,"sdp":"v=0"}`,
		`null`,
		`{}`,
		`{"type":1,"sdp":"v=0"}`,
		`{"type":"answer","sdp":5}`,
		`{"type":"answer","sdp":["v=0"]}`,
		`{"type":"answer","sdp":{}}`,
		`{"type":"answer","sdp":true}`,
		`["answer","v=0"]`,
		`"answer"`,
		`1`,
		``,
		`{"type":"answer","sdp":"v=0"`,
		`{"type":"answer","sdp":"v=0",}`,
		`{"type":"answer","sdp":"v=0"} {}`,
		`{'type':'answer'}`,
	} {
		if d, err := parseSessionDescription([]byte(in)); err == nil {
			t.Errorf("parse %s: %+q, want an error", in, d)
		} else {
			t.Logf("parse %s: %v", in, err)
		}
	}

	for _, f := range iceCandidateFixtures {
		c, err := decodeICECandidate([]byte(f.json))
		if err != nil || showCandidate(c) != showCandidate(f.c) {
			t.Errorf("decode %s: %s, %v", f.json, showCandidate(c), err)
		}
		if again, err := encodeICECandidate(c); err != nil || string(again) != f.json {
			t.Errorf("round trip: %s, %v; want %s", again, err, f.json)
		}
	}
	for _, c := range []struct {
		in   string
		want iceCandidateInit
	}{
		// Absent and null optional fields are nil, as encoding/json has it.
		{`{"candidate":"c"}`, iceCandidateInit{Candidate: "c"}},
		{`{"candidate":"c","sdpMid":null,"sdpMLineIndex":null,"usernameFragment":null}`, iceCandidateInit{Candidate: "c"}},
		{`{"candidate":"c","sdpMLineIndex":0}`, iceCandidateInit{Candidate: "c", SDPMLineIndex: new(uint16(0))}},
		{`{"candidate":"c","sdpMid":"","usernameFragment":"u"}`, iceCandidateInit{Candidate: "c", SDPMid: new(""), UsernameFragment: new("u")}},
		{`{"sdpMid":"\u0030","candidate":null,"x":[{}]}`, iceCandidateInit{SDPMid: new("0")}},
		{`{}`, iceCandidateInit{}},
		{`null`, iceCandidateInit{}},
	} {
		if got, err := decodeICECandidate([]byte(c.in)); err != nil || showCandidate(got) != showCandidate(c.want) {
			t.Errorf("decode %s: %s, %v; want %s", c.in, showCandidate(got), err, showCandidate(c.want))
		}
	}
	for _, in := range []string{
		`{"candidate":1}`,
		`{"candidate":["c"]}`,
		`{"candidate":"c","sdpMid":5}`,
		`{"candidate":"c","sdpMid":false}`,
		`{"candidate":"c","sdpMLineIndex":"0"}`,
		`{"candidate":"c","sdpMLineIndex":-1}`,
		`{"candidate":"c","sdpMLineIndex":65536}`,
		`{"candidate":"c","sdpMLineIndex":1.5}`,
		`{"candidate":"c","sdpMLineIndex":{}}`,
		`{"candidate":"c","usernameFragment":[]}`,
		`[]`,
		`"c"`,
		`true`,
		``,
		`{`,
		`{"candidate":"c",}`,
		`{"candidate":"c"} {}`,
	} {
		if c, err := decodeICECandidate([]byte(in)); err == nil {
			t.Errorf("decode %s: %s, want an error", in, showCandidate(c))
		} else {
			t.Logf("decode %s: %v", in, err)
		}
	}
}

func showCandidate(c iceCandidateInit) string {
	s := fmt.Sprintf("{%q", c.Candidate)
	if c.SDPMid != nil {
		s += fmt.Sprintf(" mid %q", *c.SDPMid)
	}
	if c.SDPMLineIndex != nil {
		s += fmt.Sprintf(" index %d", *c.SDPMLineIndex)
	}
	if c.UsernameFragment != nil {
		s += fmt.Sprintf(" ufrag %q", *c.UsernameFragment)
	}
	return s + "}"
}
