//go:build js

package smoke

import (
	"context"
	"fmt"
	"os"
	"syscall/js"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestConsole calls the browser's console API from Go.
func TestConsole(t *testing.T) {
	console := js.Global().Get("console")
	console.Call("log", "smoke console.log", 42)
	console.Call("error", "smoke console.error")
	// Node 20 has no navigator.
	if nav := js.Global().Get("navigator"); nav.Truthy() {
		t.Logf("userAgent: %s", nav.Get("userAgent").String())
	}
}

// TestWebSocket dials the echo server at $SOCKSHIM_SMOKE_WS_URL (which the
// self-test starts on 127.0.0.1) with the browser's WebSocket.
func TestWebSocket(t *testing.T) {
	url := os.Getenv("SOCKSHIM_SMOKE_WS_URL")
	if url == "" {
		t.Skip("SOCKSHIM_SMOKE_WS_URL is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageBinary, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("smoke websocket echo: %s\n", b)
	c.Close(websocket.StatusNormalClosure, "")
}
