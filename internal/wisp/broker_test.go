package wisp

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestBrokerPacketsRoundTrip: every broker packet decodes to what was
// encoded, with the header PROTOCOL.md gives it.
func TestBrokerPacketsRoundTrip(t *testing.T) {
	t.Parallel()
	tr := Transfer{SocketID: "chat", TaskID: "task", KeepAlive: 30 * time.Second, Context: []byte{1, 2, 3}}
	b := AppendTransfer(nil, 7, tr)
	want := []byte{0x91, 7, 0, 0, 0, 4, 'c', 'h', 'a', 't', 4, 't', 'a', 's', 'k', 30, 0, 0, 0, 3, 0, 1, 2, 3}
	if !bytes.Equal(b, want) {
		t.Fatalf("TRANSFER = % x, want % x", b, want)
	}
	p, err := Parse(b)
	if err != nil || p.Type != TypeTransfer || p.StreamID != 7 {
		t.Fatalf("Parse: %+v, %v", p, err)
	}
	if got, err := ParseTransfer(p.Data); err != nil || !reflect.DeepEqual(got, tr) {
		t.Fatalf("ParseTransfer = %+v, %v", got, err)
	}
	if _, err := ParseTransfer(want[5 : len(want)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated TRANSFER: %v", err)
	}
	if ValidTransfer(Transfer{}) == nil || ValidTransfer(Transfer{SocketID: "x", Context: make([]byte, 4097)}) == nil {
		t.Fatal("ValidTransfer accepts an empty id or a 4097-byte context")
	}
	if r, err := ParseTransferred(AppendTransferred(nil, 7, ReasonThrottled)[HeaderLen:]); err != nil || r != ReasonThrottled {
		t.Fatalf("TRANSFERRED: %v, %v", r, err)
	}
	last, data, err := ParseUnread(AppendUnread(nil, 7, true, []byte("ab"))[HeaderLen:])
	if err != nil || !last || string(data) != "ab" {
		t.Fatalf("UNREAD: %v %q %v", last, data, err)
	}
	if n, err := ParseList(AppendList(nil, 9)[HeaderLen:]); err != nil || n != 9 {
		t.Fatalf("LIST: %v %v", n, err)
	}
	h := Held{Nonce: 9, Sockets: []HeldSocket{
		{Kind: HeldStream, Reason: HeldActivity, SocketID: "chat", TaskID: "t", Buffered: 1 << 20, Context: []byte("c")},
		{Kind: HeldListener, Reason: HeldAccepted, SocketID: "web"},
	}}
	if got, err := ParseHeld(AppendHeld(nil, h)[HeaderLen:]); err != nil || !reflect.DeepEqual(got, h) {
		t.Fatalf("HELD = %+v, %v", got, err)
	}
	k, id, err := ParseReclaim(AppendReclaim(nil, 8, HeldListener, "web")[HeaderLen:])
	if err != nil || k != HeldListener || id != "web" {
		t.Fatalf("RECLAIM: %v %q %v", k, id, err)
	}
	if _, _, err := ParseReclaim([]byte{9, 'x'}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("RECLAIM of kind 9: %v", err)
	}
}
