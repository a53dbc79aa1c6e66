package wisp

import (
	"bytes"
	"testing"
)

func TestResumeRecordsRoundTrip(t *testing.T) {
	t.Parallel()
	si := ResumeServerInfo{Version: 1, Window: 60, Instance: "relay-1.a_b"}
	b, err := AppendResumeServerInfo(nil, si)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParseResumeServerInfo(b); err != nil || got != si {
		t.Fatalf("server record: %+v, %v", got, err)
	}
	for _, ci := range []ResumeClientInfo{
		{Version: 1},
		{Version: 1, Resume: true, Token: [TokenLen]byte{1, 2, 3}, Received: 1<<40 + 7, Instance: "r2"},
	} {
		b, err := AppendResumeClientInfo(nil, ci)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ParseResumeClientInfo(b); err != nil || got != ci {
			t.Fatalf("client record %+v: %+v, %v", ci, got, err)
		}
	}
	if _, err := AppendResumeServerInfo(nil, ResumeServerInfo{Instance: "bad id"}); err == nil {
		t.Fatal("instance id with a space accepted")
	}
	for _, bad := range [][]byte{{}, {1, 2}, bytes.Repeat([]byte{1}, 27)} {
		if _, err := ParseResumeClientInfo(bad); err == nil {
			t.Fatalf("client record %x accepted", bad)
		}
	}
	p, err := Parse(AppendAck(nil, 1<<33))
	if err != nil || p.Type != TypeAck {
		t.Fatal(p, err)
	}
	if n, err := ParseAck(p.Data); err != nil || n != 1<<33 {
		t.Fatal(n, err)
	}
	p, _ = Parse(AppendSkip(nil, 9))
	if n, err := ParseSkip(p.Data); err != nil || n != 9 {
		t.Fatal(n, err)
	}
	tok := [TokenLen]byte{9, 8, 7}
	p, _ = Parse(AppendResumeToken(nil, tok, 42))
	if gt, n, err := ParseResumeToken(p.Data); err != nil || gt != tok || n != 42 {
		t.Fatal(gt, n, err)
	}
	if !ReasonResumeUsed.Known() || ReasonResumeWrongRelay.String() == "" {
		t.Fatal("resume close reasons unnamed")
	}
}
