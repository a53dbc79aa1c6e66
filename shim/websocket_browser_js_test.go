//go:build js

package shim_test

// The browser's own WebSocket path of MessageWebSocket and
// StreamWebSocket, against internal/e2e's native coder/websocket server
// (SOCKSHIM_WSB_URL, see internal/e2e/websocket_browser_test.go), in
// Node, Chromium and Firefox.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil/jsenv"
	"github.com/sockshim/sockshim/shim"
)

// inBrowser: the runner sets SOCKSHIM_PAGE_ORIGIN; Node has no page (and
// no CORS).
func inBrowser() bool { return os.Getenv("SOCKSHIM_PAGE_ORIGIN") != "" }

func isFirefox() bool {
	nav := js.Global().Get("navigator")
	return nav.Truthy() && strings.Contains(nav.Get("userAgent").String(), "Firefox/")
}

// browserWS connects a MessageWebSocket on the browser's WebSocket (no
// transport named, no headers) to path, and returns its deliveries and its
// Closed event.
func browserWS(t *testing.T, path string, setup func(*shim.MessageWebSocket)) (*shim.MessageWebSocket, chan shim.MessageWebSocketMessageReceivedEventArgs, chan shim.WebSocketClosedEventArgs) {
	t.Helper()
	ws := shim.NewMessageWebSocket(nil)
	msgs := make(chan shim.MessageWebSocketMessageReceivedEventArgs, 64)
	closed := make(chan shim.WebSocketClosedEventArgs, 1)
	ws.OnMessageReceived(func(m shim.MessageWebSocketMessageReceivedEventArgs) { msgs <- m })
	ws.OnClosed(func(e shim.WebSocketClosedEventArgs) { closed <- e })
	if setup != nil {
		setup(ws)
	}
	if err := ws.Connect(jsenv.Context(t), jsenv.Env(t, "SOCKSHIM_WSB_URL")+path); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := shim.BrowserSendStats(ws); !ok {
		t.Fatal("the socket did not take the browser's WebSocket")
	}
	return ws, msgs, closed
}

func waitClosed(t *testing.T, closed chan shim.WebSocketClosedEventArgs) shim.WebSocketClosedEventArgs {
	t.Helper()
	select {
	case ev := <-closed:
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no Closed event within 20 s")
	}
	return shim.WebSocketClosedEventArgs{}
}

// TestJSWebSocketServerClose: the server's close code and reason reach
// OnClosed exactly, with wasClean.
func TestJSWebSocketServerClose(t *testing.T) {
	long := strings.Repeat("é", 61) + "x" // 123 bytes: the most a close frame holds
	for _, tc := range []struct {
		code   uint16
		reason string
	}{
		{1000, "normal"}, {1001, "going away"}, {1008, "policy: no"}, {4000, "app 4000"},
		{4321, "über ✓"}, {4999, long}, {1000, ""},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			t.Parallel()
			q := fmt.Sprintf("/close?code=%d&reason=%s", tc.code, urlEscape(tc.reason))
			ws, _, closed := browserWS(t, q, nil)
			ev := waitClosed(t, closed)
			t.Logf("Closed = %+v", ev)
			if ev.Code != tc.code || ev.Reason != tc.reason || !ev.WasClean {
				t.Errorf("Closed = %+v, want {Code:%d Reason:%q WasClean:true}", ev, tc.code, tc.reason)
			}
			if err := ws.Send(jsenv.Context(t), []byte("late")); err == nil {
				t.Error("Send after the server closed succeeded")
			}
			ws.Close(1000, "")
		})
	}
	// Closes coder/websocket does not make: what each browser reports is
	// logged (and kept in the README's browser support table); the code
	// and reason must be exact everywhere.
	for _, tc := range []struct {
		mode   string
		code   uint16
		reason string
	}{{"nocode", 1005, ""}, {"drop", 1006, ""}, {"abrupt", 4002, "abrupt"}} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			ws := shim.NewMessageWebSocket(nil)
			closed := make(chan shim.WebSocketClosedEventArgs, 1)
			ws.OnMessageReceived(func(shim.MessageWebSocketMessageReceivedEventArgs) {})
			ws.OnClosed(func(e shim.WebSocketClosedEventArgs) { closed <- e })
			err := ws.Connect(jsenv.Context(t), jsenv.Env(t, "SOCKSHIM_WSB_URL")+"/raw?mode="+tc.mode)
			if err != nil {
				// Firefox fires no open event when the close comes with
				// the handshake's answer: Connect fails, saying why.
				t.Logf("%s: Connect: %v", tc.mode, err)
				if !isFirefox() || tc.mode == "nocode" {
					t.Fatal(err)
				}
				want := "hides why"
				if tc.code != 1006 {
					want = fmt.Sprintf("closed at once, with %d %q", tc.code, tc.reason)
				}
				if !strings.Contains(err.Error(), want) || shim.GetWebStatus(err) != shim.WebErrorUnknown {
					t.Errorf("Connect: %v (status %v), want %q in it and status Unknown", err, shim.GetWebStatus(err), want)
				}
				return
			}
			ev := waitClosed(t, closed)
			t.Logf("%s: Closed = %+v", tc.mode, ev)
			if ev.Code != tc.code || ev.Reason != tc.reason {
				t.Errorf("Closed = %+v, want {Code:%d Reason:%q}", ev, tc.code, tc.reason)
			}
			if tc.mode == "drop" && ev.WasClean {
				t.Errorf("Closed = %+v: clean without a close frame", ev)
			}
			ws.Close(1000, "")
		})
	}
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			code uint16
			eof  bool
		}{{1000, true}, {4001, false}} {
			st := shim.NewStreamWebSocket(nil)
			closed := make(chan shim.WebSocketClosedEventArgs, 1)
			st.OnClosed(func(e shim.WebSocketClosedEventArgs) { closed <- e })
			if err := st.Connect(jsenv.Context(t), jsenv.Env(t, "SOCKSHIM_WSB_URL")+fmt.Sprintf("/close?code=%d&reason=r", tc.code)); err != nil {
				t.Fatal(err)
			}
			_, err := st.Read(make([]byte, 16))
			if got := err == io.EOF; got != tc.eof {
				t.Errorf("%d: Read err = %v, want EOF %v", tc.code, err, tc.eof)
			}
			if ev := waitClosed(t, closed); ev.Code != tc.code || ev.Reason != "r" {
				t.Errorf("%d: Closed = %+v", tc.code, ev)
			}
			st.Close(1000, "")
		}
	})
}

func urlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// TestJSWebSocketClientClose: the client's code and reason reach the
// server; a code a browser cannot send is refused clearly and leaves the
// socket usable.
func TestJSWebSocketClientClose(t *testing.T) {
	for _, tc := range []struct {
		code   uint16
		reason string
	}{{1000, "done here"}, {3000, ""}, {4321, "bye from the tab ✓"}} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			t.Parallel()
			id := fmt.Sprintf("%s-%d-%d", t.Name(), tc.code, time.Now().UnixNano())
			ws, _, closed := browserWS(t, "/record?id="+urlEscape(id), nil)
			for _, bad := range []uint16{1001, 1008, 1011, 2999, 5000} {
				err := ws.Close(bad, "no")
				if !errors.Is(err, shim.ErrInvalidArgument) || !strings.Contains(err.Error(), "1000 and 3000-4999") {
					t.Errorf("Close(%d) = %v, want ErrInvalidArgument naming 1000 and 3000-4999", bad, err)
				}
			}
			if err := ws.Close(4000, strings.Repeat("x", 124)); !errors.Is(err, shim.ErrInvalidArgument) {
				t.Errorf("Close with a 124-byte reason = %v, want ErrInvalidArgument", err)
			}
			if err := ws.Send(jsenv.Context(t), []byte("still open")); err != nil {
				t.Fatalf("Send after a refused Close: %v", err)
			}
			if err := ws.Close(tc.code, tc.reason); err != nil {
				t.Errorf("Close(%d, %q) = %v", tc.code, tc.reason, err)
			}
			ev := waitClosed(t, closed)
			t.Logf("Closed = %+v", ev)
			if ev.Code != tc.code || ev.Reason != tc.reason || !ev.WasClean {
				t.Errorf("Closed = %+v, want {Code:%d Reason:%q WasClean:true}", ev, tc.code, tc.reason)
			}
			_, msgs, _ := browserWS(t, "/report?id="+urlEscape(id), nil)
			select {
			case m := <-msgs:
				if want := fmt.Sprintf("%d %s", tc.code, tc.reason); string(m.Data) != want {
					t.Errorf("the server saw close %q, want %q", m.Data, want)
				}
			case <-time.After(25 * time.Second):
				t.Fatal("no report from the server")
			}
		})
	}
}

// TestJSWebSocketTypes: text and binary keep their type; PartialMessage
// mode delivers the browser's whole messages whole.
func TestJSWebSocketTypes(t *testing.T) {
	ws := shim.NewMessageWebSocket(nil)
	msgs := make(chan shim.MessageWebSocketMessageReceivedEventArgs, 8)
	ws.OnMessageReceived(func(m shim.MessageWebSocketMessageReceivedEventArgs) { msgs <- m })
	ws.Control().SetReceiveMode(shim.ReceiveModePartialMessage)
	if err := ws.Connect(jsenv.Context(t), jsenv.Env(t, "SOCKSHIM_WSB_URL")+"/echo"); err != nil {
		t.Fatal(err)
	}
	defer ws.Close(1000, "")
	big := []byte(strings.Repeat("0123456789abcdef", 20000)) // 320000 bytes: five 64 KiB pieces natively
	for _, typ := range []shim.SocketMessageType{shim.MessageTypeUtf8, shim.MessageTypeBinary} {
		ws.Control().SetMessageType(typ)
		if err := ws.Send(jsenv.Context(t), big); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-msgs:
			if m.MessageType != typ || !m.IsMessageComplete || string(m.Data) != string(big) {
				t.Errorf("%v: got %v complete=%v %d bytes, want the whole message in one delivery", typ, m.MessageType, m.IsMessageComplete, len(m.Data))
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no echo")
		}
	}
}

// TestJSWebSocketTooBig: a message over MaxMessageSize closes the
// socket; OnClosed says 1009 although the browser could only send 1000.
func TestJSWebSocketTooBig(t *testing.T) {
	ws, _, closed := browserWS(t, "/echo", func(ws *shim.MessageWebSocket) { ws.Control().SetMaxMessageSize(1000) })
	defer ws.Close(1000, "")
	if err := ws.Send(jsenv.Context(t), make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	if ev := waitClosed(t, closed); ev.Code != 1009 {
		t.Errorf("Closed = %+v, want 1009", ev)
	}
}

// TestJSWebSocketSlowReader: Send waits while the browser holds more than
// OutboundBufferSizeInBytes unsent, so against a server that reads slowly
// the tab's buffered bytes stay under the bound, and nothing is lost.
func TestJSWebSocketSlowReader(t *testing.T) {
	const bound, size, count = 256 << 10, 32 << 10, 256 // 8 MiB through a 2 ms-per-message reader
	ws, msgs, _ := browserWS(t, "/slow", func(ws *shim.MessageWebSocket) {
		ws.Control().SetOutboundBufferSizeInBytes(bound)
	})
	defer ws.Close(1000, "")
	ctx := jsenv.Context(t)
	maxSeen := 0
	for i := 0; i < count; i++ {
		m := make([]byte, size)
		binary.BigEndian.PutUint32(m, uint32(i))
		for j := 4; j < size; j++ {
			m[j] = byte(i % 251)
		}
		if err := ws.Send(ctx, m); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		maxSeen = max(maxSeen, shim.BrowserBufferedAmount(ws))
	}
	waits, maxAfterSend, gotBound, _ := shim.BrowserSendStats(ws)
	t.Logf("bound %d: %d of %d sends waited; bufferedAmount peaked at %d (after a send: %d)", gotBound, waits, count, maxSeen, maxAfterSend)
	if gotBound != bound {
		t.Errorf("bound = %d, want %d", gotBound, bound)
	}
	if maxSeen > bound || maxAfterSend > bound {
		t.Errorf("bufferedAmount reached %d (after a send: %d), over the bound %d", maxSeen, maxAfterSend, bound)
	}
	if waits == 0 {
		t.Error("no Send waited: the test did not reach the bound, so it proves nothing")
	}
	ws.Control().SetMessageType(shim.MessageTypeUtf8)
	if err := ws.Send(ctx, []byte("done")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		if want := fmt.Sprintf("ok %d", count); string(m.Data) != want {
			t.Errorf("server: %q, want %q", m.Data, want)
		}
	case <-ctx.Done():
		t.Fatal("no answer from the server")
	}

	// A context that ends while Send waits ends the wait.
	ws.Control().SetMessageType(shim.MessageTypeBinary)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = ws.Send(short, make([]byte, bound))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send with an ending context: %v, want DeadlineExceeded", err)
	}
}

// TestJSWebSocketRefused: what each path reports for a refused handshake.
// The browser's WebSocket hides the status (Unknown, never a guess); the
// opt-in probe reads it when CORS lets the page; the tunnelled RFC 6455
// path sees the real one.
func TestJSWebSocketRefused(t *testing.T) {
	base := jsenv.Env(t, "SOCKSHIM_WSB_URL")
	relay := shim.RelayTransport(jsenv.Env(t, "SOCKSHIM_RELAY_URL"), nil)
	t.Cleanup(func() { relay.Close() })
	for _, tc := range []struct {
		name  string
		path  string
		tr    shim.Transport
		probe bool
		want  shim.WebErrorStatus
		note  string // in the error
	}{
		{"browser", "/cors/refuse/403", nil, false, shim.WebErrorUnknown, "hides why"},
		{"browser probe CORS", "/cors/refuse/403", nil, true, shim.WebErrorForbidden, "not the handshake itself"},
		{"browser probe CORS 503", "/cors/refuse/503", nil, true, shim.WebErrorServiceUnavailable, "answered 503"},
		{"browser probe no CORS", "/refuse/401", nil, true, shim.WebErrorUnknown, "could not read a status"},
		{"tunnelled", "/refuse/401", relay, false, shim.WebErrorUnauthorized, "401"},
		{"tunnelled CORS", "/cors/refuse/404", relay, false, shim.WebErrorNotFound, "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.name == "browser probe no CORS" && !inBrowser() {
				// Node's fetch has no CORS: the page-less probe reads it.
				tc.want, tc.note = shim.WebErrorUnauthorized, "answered 401"
			}
			ws := shim.NewMessageWebSocket(tc.tr)
			ws.OnMessageReceived(func(shim.MessageWebSocketMessageReceivedEventArgs) {})
			ws.Control().SetProbeRefusedHandshake(tc.probe)
			err := ws.Connect(jsenv.Context(t), base+tc.path)
			t.Logf("err = %v (status %v)", err, shim.GetWebStatus(err))
			if err == nil || shim.GetWebStatus(err) != tc.want || !strings.Contains(err.Error(), tc.note) {
				t.Errorf("err = %v (status %v), want status %v and %q in the error", err, shim.GetWebStatus(err), tc.want, tc.note)
			}
		})
	}
}
