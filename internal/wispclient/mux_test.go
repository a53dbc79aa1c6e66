//go:build !js

package wispclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// These tests hold the client multiplexer against a Wisp server written out
// packet by packet on a real loopback WebSocket, so every byte the client
// sends can be checked and every packet a relay could send can be played.

const peerTimeout = 10 * time.Second // generous: the machine may be loaded

// peer is the server end of one session.
type peer struct {
	t          *testing.T
	conn       *websocket.Conn
	clientInfo wisp.Info // the client's INFO (v2)
}

// servePeer starts a Wisp v2 server on 127.0.0.1 that advertises exts and
// gives every stream credit packets (CONTINUE), and returns its URL and the
// peer of the first session once its handshake is done.
func servePeer(t *testing.T, exts []wisp.Extension, credit uint32) (string, <-chan *peer) {
	t.Helper()
	peers := make(chan *peer, 1)
	done := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wispclient.Subprotocol}})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 21)
		p := &peer{t: t, conn: c}
		p.sendPacket(&wisp.Packet{Type: wisp.TypeInfo, Info: wisp.Info{Major: 2, Extensions: exts}})
		info := p.expect(wisp.TypeInfo)
		p.clientInfo = info.Info
		p.send(wisp.AppendContinue(nil, 0, credit))
		peers <- p
		<-done
	}))
	t.Cleanup(func() { close(done); hs.Close() })
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/", peers
}

// dial opens a client session to url and the peer that serves it.
func dial(t *testing.T, url string, peers <-chan *peer, o *wispclient.Options) (*wispclient.Session, *peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	s, err := wispclient.Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	select {
	case p := <-peers:
		// Drop the server end first, so Close need not wait for a close
		// frame from a server that no longer reads.
		t.Cleanup(func() { p.conn.CloseNow(); s.Close() })
		return s, p
	case <-ctx.Done():
		s.Close()
		t.Fatal("the server saw no handshake")
		return nil, nil
	}
}

func (p *peer) send(frame []byte) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	if err := p.conn.Write(ctx, websocket.MessageBinary, frame); err != nil {
		p.t.Errorf("server write: %v", err)
	}
}

func (p *peer) sendPacket(pkt *wisp.Packet) { p.t.Helper(); p.send(wisp.Append(nil, pkt)) }

// read returns the next packet the client sent.
func (p *peer) read() wisp.Packet {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	typ, b, err := p.conn.Read(ctx)
	if err != nil {
		p.t.Fatalf("server read: %v", err)
	}
	if typ != websocket.MessageBinary {
		p.t.Fatalf("client sent a %v message", typ)
	}
	pkt, err := wisp.Parse(b)
	if err != nil {
		p.t.Fatalf("client sent a malformed packet % x: %v", b, err)
	}
	return pkt
}

// expect reads the next packet and fails unless it has type typ.
func (p *peer) expect(typ wisp.Type) wisp.Packet {
	p.t.Helper()
	pkt := p.read()
	if pkt.Type != typ {
		p.t.Fatalf("client sent %v on stream %d, want %v", pkt.Type, pkt.StreamID, typ)
	}
	return pkt
}

func open(t *testing.T, s *wispclient.Session, host string, port uint16) *wispclient.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	st, err := s.Open(ctx, wisp.StreamTCP, host, port)
	if err != nil {
		t.Fatalf("Open %s:%d: %v", host, port, err)
	}
	st.SetDeadline(time.Now().Add(peerTimeout)) // no test hangs on a lost packet
	return st
}

func readString(t *testing.T, st *wispclient.Stream, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(st, b); err != nil {
		t.Fatalf("stream %d: read %d bytes: %v", st.ID(), n, err)
	}
	return string(b)
}

func TestSessionMultiplexesStreams(t *testing.T) {
	t.Parallel()
	url, peers := servePeer(t, nil, 8)
	s, p := dial(t, url, peers, nil)
	if !s.V2() {
		t.Fatal("V2() = false against a server that echoed the subprotocol")
	}

	dests := []struct {
		host string
		port uint16
	}{{"a.example", 1}, {"b.example", 2}, {"c.example", 3}}
	var streams []*wispclient.Stream
	seen := map[uint32]bool{}
	for _, d := range dests {
		st := open(t, s, d.host, d.port)
		streams = append(streams, st)
		c := p.expect(wisp.TypeConnect)
		if c.StreamID != st.ID() || c.Host != d.host || c.Port != d.port || c.StreamType != wisp.StreamTCP {
			t.Fatalf("CONNECT %+v, want stream %d TCP %s:%d", c, st.ID(), d.host, d.port)
		}
		if c.StreamID == 0 || c.StreamID&wisp.RelayStreamBit != 0 || seen[c.StreamID] {
			t.Fatalf("stream id %#x: want a fresh client id (not 0, high bit clear); had %v", c.StreamID, seen)
		}
		seen[c.StreamID] = true
	}
	a, b, c := streams[0], streams[1], streams[2]
	name := map[*wispclient.Stream]string{a: "a", b: "b", c: "c"}

	// Each stream reads what was sent to it, whatever the order on the wire.
	p.send(wisp.AppendData(nil, b.ID(), []byte("to b")))
	p.send(wisp.AppendData(nil, c.ID(), []byte("to c")))
	p.send(wisp.AppendData(nil, a.ID(), []byte("to a")))
	for _, st := range []*wispclient.Stream{a, b, c} {
		want := "to " + name[st]
		if got := readString(t, st, 4); got != want {
			t.Errorf("stream %d read %q, want %q", st.ID(), got, want)
		}
	}

	// Writes carry their stream's id.
	for _, st := range []*wispclient.Stream{c, a} {
		want := "from " + name[st]
		if _, err := st.Write([]byte(want)); err != nil {
			t.Fatal(err)
		}
		if d := p.expect(wisp.TypeData); d.StreamID != st.ID() || string(d.Data) != want {
			t.Errorf("DATA stream %d %q, want stream %d %q", d.StreamID, d.Data, st.ID(), want)
		}
	}

	// A close reason reaches its stream only.
	p.send(wisp.AppendClose(nil, b.ID(), wisp.ReasonRefused))
	var ce *wisp.CloseError
	if _, err := b.Read(make([]byte, 1)); !errors.As(err, &ce) || ce.Reason != wisp.ReasonRefused {
		t.Errorf("stream b after CLOSE(refused): %v, want a *wisp.CloseError with %v", err, wisp.ReasonRefused)
	}
	p.send(wisp.AppendData(nil, a.ID(), []byte("still")))
	if got := readString(t, a, 5); got != "still" {
		t.Errorf("stream a after b closed: %q", got)
	}

	// An orderly close from the server reads as EOF; a local Close sends CLOSE.
	p.send(wisp.AppendClose(nil, c.ID(), wisp.ReasonVoluntary))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("stream c after CLOSE(voluntary): %v, want io.EOF", err)
	}
	a.Close()
	if cl := p.expect(wisp.TypeClose); cl.StreamID != a.ID() || cl.Reason != wisp.ReasonVoluntary {
		t.Errorf("after a.Close the server got CLOSE %+v, want stream %d %v", cl, a.ID(), wisp.ReasonVoluntary)
	}
}

// TestStreamWriteCredit: Wisp's CONTINUE credit counts DATA packets and is
// absolute; a write without credit waits and sends nothing.
func TestStreamWriteCredit(t *testing.T) {
	t.Parallel()
	url, peers := servePeer(t, nil, 3)
	s, p := dial(t, url, peers, nil)
	st := open(t, s, "echo.example", 7)
	p.expect(wisp.TypeConnect)

	// Three packets of credit: a write of two full payloads and one byte
	// uses all of them.
	big := bytes.Repeat([]byte{'x'}, 2*wispclient.MaxPayload+1)
	if n, err := st.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write(%d bytes) = %d, %v", len(big), n, err)
	}
	for i, want := range []int{wispclient.MaxPayload, wispclient.MaxPayload, 1} {
		if d := p.expect(wisp.TypeData); len(d.Data) != want {
			t.Fatalf("DATA %d carries %d bytes, want %d", i, len(d.Data), want)
		}
	}

	// No credit left: the write waits until its deadline.
	st.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := st.Write([]byte("late")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write without credit = %d, %v; want 0 and a deadline error", n, err)
	}

	// CONTINUE sets the credit to 2 (not +2): two one-packet writes pass,
	// the third waits again.
	st.SetWriteDeadline(time.Now().Add(peerTimeout))
	p.send(wisp.AppendContinue(nil, st.ID(), 2))
	for _, msg := range []string{"one", "two"} {
		if _, err := st.Write([]byte(msg)); err != nil {
			t.Fatalf("Write(%q) after CONTINUE: %v", msg, err)
		}
		// The first DATA after the timed-out write is "one": it sent nothing.
		if d := p.expect(wisp.TypeData); string(d.Data) != msg {
			t.Fatalf("DATA %q, want %q", d.Data, msg)
		}
	}
	st.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := st.Write([]byte("three")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third Write on a credit of 2: %v, want a deadline error", err)
	}
}

// TestStreamReceiveWindow: with sockshim's flow-control extension the client
// offers a byte window per stream, grants back what the app has read in
// steps of at least half the window, and drops a stream the server
// overruns.
func TestStreamReceiveWindow(t *testing.T) {
	t.Parallel()
	const window = 1000
	url, peers := servePeer(t, []wisp.Extension{{ID: wisp.ExtFlowControl, Payload: wisp.AppendFlowControlInfo(nil, wisp.FlowControlInfo{Window: window})}}, 8)
	s, p := dial(t, url, peers, &wispclient.Options{Window: window})
	ext, ok := p.clientInfo.Find(wisp.ExtFlowControl)
	if !ok {
		t.Fatal("the client's INFO offers no flow control")
	}
	if fc, err := wisp.ParseFlowControlInfo(ext.Payload); err != nil || fc.Window != window {
		t.Fatalf("client's flow-control window %+v, %v; want %d", fc, err, window)
	}
	st := open(t, s, "bulk.example", 9)
	p.expect(wisp.TypeConnect)

	// Fill the window.
	p.send(wisp.AppendData(nil, st.ID(), bytes.Repeat([]byte{'a'}, 600)))
	p.send(wisp.AppendData(nil, st.ID(), bytes.Repeat([]byte{'b'}, 400)))
	readString(t, st, 499)
	readString(t, st, 1) // 500 read: half the window, the first grant
	if g := p.expect(wisp.TypeGrant); g.StreamID != st.ID() {
		t.Fatalf("GRANT on stream %d, want %d", g.StreamID, st.ID())
	} else if n, err := wisp.ParseGrant(g.Data); err != nil || n != 500 {
		t.Fatalf("first GRANT of %d bytes (%v), want 500 (none at 499)", n, err)
	}
	readString(t, st, 500)
	if n, err := wisp.ParseGrant(p.expect(wisp.TypeGrant).Data); err != nil || n != 500 {
		t.Fatalf("second GRANT of %d bytes (%v), want 500", n, err)
	}
	if b := st.Buffered(); b != 0 {
		t.Fatalf("Buffered() = %d after reading everything", b)
	}

	// 2000 bytes allowed in all, 1000 sent: 1000 more fit, one more does not.
	p.send(wisp.AppendData(nil, st.ID(), bytes.Repeat([]byte{'c'}, 1000)))
	p.send(wisp.AppendData(nil, st.ID(), []byte{'!'}))
	if cl := p.expect(wisp.TypeClose); cl.StreamID != st.ID() || cl.Reason != wisp.ReasonThrottled {
		t.Fatalf("after the overrun the server got CLOSE %+v, want stream %d %v", cl, st.ID(), wisp.ReasonThrottled)
	}
	if _, err := io.ReadAll(st); err == nil {
		t.Fatal("the overrun stream still reads to a clean EOF")
	}
}

// TestOpenWaitsForOpened: against a server with sockshim's extension, Open
// returns once the destination answered: OPENED gives the endpoints, CLOSE
// the reason.
func TestOpenWaitsForOpened(t *testing.T) {
	t.Parallel()
	url, peers := servePeer(t, []wisp.Extension{{ID: wisp.ExtSockshim, Payload: []byte{1}}}, 8)
	s, p := dial(t, url, peers, nil)
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()

	type result struct {
		st  *wispclient.Stream
		err error
	}
	openAsync := func(host string) <-chan result {
		ch := make(chan result, 1)
		go func() {
			st, err := s.Open(ctx, wisp.StreamTCP, host, 80)
			ch <- result{st, err}
		}()
		return ch
	}

	refused := openAsync("refused.example")
	c := p.expect(wisp.TypeConnect)
	p.send(wisp.AppendClose(nil, c.StreamID, wisp.ReasonRefused))
	var ce *wisp.CloseError
	if r := <-refused; !errors.As(r.err, &ce) || ce.Reason != wisp.ReasonRefused {
		t.Fatalf("Open answered by CLOSE(refused) = %v, %v", r.st, r.err)
	}

	ok := openAsync("ok.example")
	c = p.expect(wisp.TypeConnect)
	o := wisp.Opened{Remote: netip.MustParseAddrPort("192.0.2.1:80"), Local: netip.MustParseAddrPort("198.51.100.7:40000")}
	p.send(wisp.AppendOpened(nil, c.StreamID, o))
	r := <-ok
	if r.err != nil {
		t.Fatalf("Open answered by OPENED: %v", r.err)
	}
	defer r.st.Close()
	if got := r.st.RemoteAddr().String(); got != "192.0.2.1:80" {
		t.Errorf("RemoteAddr = %s, want the relay's OPENED remote 192.0.2.1:80", got)
	}
	if got := r.st.LocalAddr().String(); got != "198.51.100.7:40000" {
		t.Errorf("LocalAddr = %s, want 198.51.100.7:40000", got)
	}
}

// TestSessionLostEndsStreams: when the WebSocket goes, every stream fails
// with ErrSessionLost and the session says it is done.
func TestSessionLostEndsStreams(t *testing.T) {
	t.Parallel()
	url, peers := servePeer(t, nil, 8)
	s, p := dial(t, url, peers, nil)
	a, b := open(t, s, "a.example", 1), open(t, s, "b.example", 2)
	p.expect(wisp.TypeConnect)
	p.expect(wisp.TypeConnect)

	p.conn.Close(websocket.StatusGoingAway, "bye")
	for _, st := range []*wispclient.Stream{a, b} {
		if _, err := st.Read(make([]byte, 1)); !errors.Is(err, wispclient.ErrSessionLost) {
			t.Errorf("stream %d after the WebSocket closed: %v, want ErrSessionLost", st.ID(), err)
		}
	}
	select {
	case <-s.Done():
	case <-time.After(peerTimeout):
		t.Fatal("Done not closed after the WebSocket closed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	if _, err := s.Open(ctx, wisp.StreamTCP, "c.example", 3); !errors.Is(err, wispclient.ErrSessionLost) {
		t.Errorf("Open on a lost session: %v, want ErrSessionLost", err)
	}
}
