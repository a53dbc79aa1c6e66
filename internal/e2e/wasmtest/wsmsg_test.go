//go:build js

package wasmtest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/testutil/jsenv"
	"github.com/sockshim/sockshim/internal/wsmsg"
)

// TestWSMsgConn drives wsmsg.Conn, the browser WebSocket binding under the
// Wisp client, against internal/e2e's scripted server: a message larger
// than the pooled buffers, a text message, a write echoed back, a read that
// times out while nothing is queued, the server's close code, and writes
// after the close.
func TestWSMsgConn(t *testing.T) {
	ctx := jsenv.Context(t)
	c, err := wsmsg.Dial(ctx, jsenv.Env(t, "SOCKSHIM_WS_SCRIPT_URL"), []string{"sockshim-test"})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Subprotocol(); p != "sockshim-test" {
		t.Errorf("Subprotocol() = %q", p)
	}
	c.SetReadLimit(1 << 20)
	r := wsmsg.NewReader(c)

	typ, b, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if typ != websocket.MessageBinary || len(b) != 200<<10 {
		t.Fatalf("first message: %v, %d bytes", typ, len(b))
	}
	for i, v := range b {
		if v != byte(i*7) {
			t.Fatalf("byte %d = %d", i, v)
		}
	}
	typ, b, err = r.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(b) != "text message" {
		t.Fatalf("second message: %v %q %v", typ, b, err)
	}

	// Nothing is queued now: the server waits for a message.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, _, err = r.Read(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read with nothing queued: %v, want the deadline", err)
	}
	// A timed-out read closes the connection, as coder/websocket's does.
	_, _, err = r.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("read after the timeout: %v, want a CloseError", err)
	}
	if err := c.Write(ctx, websocket.MessageBinary, []byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// TestWSMsgEchoAndServerClose checks a write echoed back byte for byte and
// the server's close code and reason.
func TestWSMsgEchoAndServerClose(t *testing.T) {
	ctx := jsenv.Context(t)
	c, err := wsmsg.Dial(ctx, jsenv.Env(t, "SOCKSHIM_WS_SCRIPT_URL"), []string{"sockshim-test"})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	r := wsmsg.NewReader(c)
	for range 2 { // the big message and the text
		if _, _, err := r.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	out := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80 KiB
	if err := c.Write(ctx, websocket.MessageBinary, out); err != nil {
		t.Fatal(err)
	}
	typ, b, err := r.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || !bytes.Equal(b, out) {
		t.Fatalf("echo: %v, %d bytes, %v", typ, len(b), err)
	}
	_, _, err = r.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "script done" {
		t.Fatalf("after the script: %v, want close 4000 %q", err, "script done")
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Close after the server closed: %v", err)
	}
}

// TestWSMsgReadLimit: a message over the read limit fails the read with
// ErrMessageTooBig.
func TestWSMsgReadLimit(t *testing.T) {
	ctx := jsenv.Context(t)
	c, err := wsmsg.Dial(ctx, jsenv.Env(t, "SOCKSHIM_WS_SCRIPT_URL"), []string{"sockshim-test"})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(100 << 10)
	_, _, err = wsmsg.NewReader(c).Read(ctx)
	if !errors.Is(err, websocket.ErrMessageTooBig) {
		t.Fatalf("200 KiB message with a 100 KiB limit: %v", err)
	}
}

// TestWSMsgDialRefused: nothing listens, so Dial fails instead of hanging.
func TestWSMsgDialRefused(t *testing.T) {
	ctx := jsenv.Context(t)
	_, err := wsmsg.Dial(ctx, "ws://"+jsenv.Env(t, "SOCKSHIM_CLOSED_ADDR")+"/", nil)
	if err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	if strings.Contains(err.Error(), "deadline") {
		t.Fatalf("Dial waited for the deadline: %v", err)
	}
}
