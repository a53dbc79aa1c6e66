//go:build !js

package e2e

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// webSocketWasmEnv starts the server shim/websocket_browser_js_test.go
// talks to (SOCKSHIM_WSB_URL), a native coder/websocket server:
//
//   - /echo echoes every message, of any size.
//   - /close?code=N&reason=R closes at once with that code and reason.
//   - /record?id=X reads until the client closes, and keeps its close code
//     and reason; /report?id=X then sends them as one text message.
//   - /slow reads each message and then sleeps 2 ms (a slow reader);
//     every binary message is its index (4 bytes, big endian) followed by
//     bytes of value index%251; the text message "done" is answered with
//     "ok N" (N messages, all as expected) or "bad: ...".
//   - /raw?mode=M answers the handshake by hand, then: "nocode" sends a
//     close frame without a code and waits for the answer; "drop" closes
//     the TCP connection without a close frame; "abrupt" sends close 4002
//     "abrupt" and closes TCP at once, without waiting for the answer.
//   - /refuse/N answers every request with status N; /cors/refuse/N does
//     too, with Access-Control-Allow-Origin: *, so a page may read it.
func webSocketWasmEnv(t *testing.T) map[string]string {
	var (
		mu      sync.Mutex
		records = map[string]string{}
		arrived = sync.NewCond(&mu)
	)
	accept := func(w http.ResponseWriter, r *http.Request) *websocket.Conn {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return nil
		}
		return c
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		c := accept(w, r)
		if c == nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(-1)
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil || c.Write(r.Context(), typ, b) != nil {
				return
			}
		}
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		c := accept(w, r)
		if c == nil {
			return
		}
		defer c.CloseNow()
		c.Close(websocket.StatusCode(code), r.URL.Query().Get("reason"))
	})
	mux.HandleFunc("/record", func(w http.ResponseWriter, r *http.Request) {
		c := accept(w, r)
		if c == nil {
			return
		}
		defer c.CloseNow()
		var got string
		for {
			_, _, err := c.Read(r.Context())
			if err == nil {
				continue
			}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				got = fmt.Sprintf("%d %s", ce.Code, ce.Reason)
			} else {
				got = "no close frame: " + err.Error()
			}
			break
		}
		mu.Lock()
		records[r.URL.Query().Get("id")] = got
		arrived.Broadcast()
		mu.Unlock()
	})
	mux.HandleFunc("/report", func(w http.ResponseWriter, r *http.Request) {
		c := accept(w, r)
		if c == nil {
			return
		}
		defer c.CloseNow()
		id := r.URL.Query().Get("id")
		stop := time.AfterFunc(20*time.Second, func() { mu.Lock(); arrived.Broadcast(); mu.Unlock() })
		defer stop.Stop()
		deadline := time.Now().Add(20 * time.Second)
		mu.Lock()
		got, ok := records[id]
		for !ok && time.Now().Before(deadline) {
			arrived.Wait()
			got, ok = records[id]
		}
		mu.Unlock()
		if !ok {
			got = "nothing recorded for " + id
		}
		c.Write(r.Context(), websocket.MessageText, []byte(got))
		c.Close(websocket.StatusNormalClosure, "")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		c := accept(w, r)
		if c == nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(-1)
		n, bad := 0, ""
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if typ == websocket.MessageText && string(b) == "done" {
				if bad == "" {
					c.Write(r.Context(), websocket.MessageText, []byte(fmt.Sprintf("ok %d", n)))
				} else {
					c.Write(r.Context(), websocket.MessageText, []byte("bad: "+bad))
				}
				continue
			}
			if bad == "" {
				if len(b) < 4 || binary.BigEndian.Uint32(b) != uint32(n) {
					bad = fmt.Sprintf("message %d out of order or short (%d bytes)", n, len(b))
				} else if !bytes.Equal(b[4:], bytes.Repeat([]byte{byte(n % 251)}, len(b)-4)) {
					bad = fmt.Sprintf("message %d: wrong bytes", n)
				}
			}
			n++
			time.Sleep(2 * time.Millisecond)
		}
	})
	mux.HandleFunc("/raw", func(w http.ResponseWriter, r *http.Request) {
		rawWebSocket(w, r, r.URL.Query().Get("mode"))
	})
	refuse := func(cors bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, s, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/cors"), "/refuse/")
			code, err := strconv.Atoi(s)
			if err != nil || code < 400 || code > 599 {
				code = http.StatusBadRequest
			}
			if cors {
				w.Header().Set("Access-Control-Allow-Origin", "*")
			}
			http.Error(w, "refused by the test server", code)
		}
	}
	mux.HandleFunc("/refuse/", refuse(false))
	mux.HandleFunc("/cors/refuse/", refuse(true))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return map[string]string{"SOCKSHIM_WSB_URL": "ws" + strings.TrimPrefix(srv.URL, "http")}
}

// rawWebSocket answers a WebSocket handshake itself, to send what
// coder/websocket will not (a close frame without a code, a close without
// the closing handshake).
func rawWebSocket(w http.ResponseWriter, r *http.Request, mode string) {
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	switch mode {
	case "nocode":
		brw.Write([]byte{0x88, 0x00})
		brw.Flush()
		io.ReadFull(brw, make([]byte, 6)) // the client's masked close frame, also without a code
	case "abrupt":
		frame := append([]byte{0x88, 8, 0x0F, 0xA2}, "abrupt"...) // 4002
		brw.Write(frame)
		brw.Flush()
	default: // "drop"
		brw.Flush()
	}
}
