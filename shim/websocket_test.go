//go:build !js

package shim_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/shim"
)

// badTextCloses gets the close status each /badtext connection ended with.
var badTextCloses = make(chan websocket.StatusCode, 64)

// wsServer is a coder/websocket server with the endpoints the tests use.
func wsServer(t *testing.T, headers *sync.Map) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/badtext", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		// A text message that is not UTF-8, split inside a character;
		// coder/websocket sends what it is given.
		wr, _ := c.Writer(r.Context(), websocket.MessageText)
		wr.Write([]byte("ok \xc3"))
		wr.Write([]byte("\xa9 then \xff\xfe"))
		wr.Close()
		_, _, err = c.Read(r.Context())
		badTextCloses <- websocket.CloseStatus(err)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		if headers != nil {
			headers.Store(r.Header.Get("X-Sockshim-Test"), r.Header.Clone())
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"chat.v2", "chat.v1"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(-1)
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if string(b) == "close-me" {
				c.Close(4001, "bye")
				return
			}
			if err := c.Write(r.Context(), typ, b); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/frames", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		wr, _ := c.Writer(r.Context(), websocket.MessageText)
		for _, part := range []string{"one ", "two ", "three"} {
			wr.Write([]byte(part))
			time.Sleep(5 * time.Millisecond)
		}
		wr.Close()
		c.Read(r.Context()) // until the client closes
	})
	mux.HandleFunc("/requires", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Sec-WebSocket-Protocol"), "chat.v2") {
			w.Header().Set("Sec-WebSocket-Protocol", "chat.v2")
			http.Error(w, `this endpoint requires subprotocol "chat.v2"`, http.StatusBadRequest)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"chat.v2"}})
		if err == nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
	})
	mux.HandleFunc("/auth", func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ada" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err == nil {
			c.Close(websocket.StatusNormalClosure, "welcome")
		}
	})
	return mux
}

func wsURL(hs *httptest.Server) string { return "ws" + strings.TrimPrefix(hs.URL, "http") }

// wsCase is one way of running a WebSocket: which client implementation
// and which transport.
type wsCase struct {
	name string
	tr   shim.Transport
	raw  bool // sockshim's RFC 6455 client (the browser build's relay path)
}

func wsCases(t *testing.T) []wsCase {
	url, _ := testutil.Relay(t, nil)
	var cs []wsCase
	for _, raw := range []bool{false, true} {
		impl := "coder"
		if raw {
			impl = "rfc6455"
		}
		cs = append(cs,
			wsCase{impl + "/direct", shim.DirectTransport(nil), raw},
			wsCase{impl + "/relay", shim.RelayTransport(url, nil), raw})
	}
	return cs
}

func (c wsCase) message() *shim.MessageWebSocket {
	s := shim.NewMessageWebSocket(c.tr)
	if c.raw {
		shim.UseRFC6455ForTest(s)
	}
	return s
}

func (c wsCase) stream() *shim.StreamWebSocket {
	s := shim.NewStreamWebSocket(c.tr)
	if c.raw {
		shim.UseRFC6455ForTest(s)
	}
	return s
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an event")
		panic("unreachable")
	}
}

func TestMessageWebSocket(t *testing.T) {
	t.Parallel()
	headers := new(sync.Map)
	hs := httptest.NewServer(wsServer(t, headers))
	t.Cleanup(hs.Close)
	for _, tc := range wsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.message()
			msgs := make(chan shim.MessageWebSocketMessageReceivedEventArgs, 16)
			closed := make(chan shim.WebSocketClosedEventArgs, 1)
			s.OnMessageReceived(func(m shim.MessageWebSocketMessageReceivedEventArgs) { msgs <- m })
			s.OnClosed(func(e shim.WebSocketClosedEventArgs) { closed <- e })
			s.SetRequestHeader("X-Sockshim-Test", tc.name)
			s.Control().SetSupportedProtocols("chat.v2")
			s.Control().SetOutboundBufferSizeInBytes(3) // several frames per message
			if err := s.Connect(ctxT(t), wsURL(hs)+"/echo"); err != nil {
				t.Fatal(err)
			}
			if got := s.Information().Protocol; got != "chat.v2" {
				t.Errorf("Protocol = %q", got)
			}
			for _, m := range []struct {
				typ  shim.SocketMessageType
				data string
			}{{shim.MessageTypeUtf8, "héllo"}, {shim.MessageTypeBinary, "\x00\x01\xff binary"}, {shim.MessageTypeUtf8, ""}} {
				s.Control().SetMessageType(m.typ)
				if err := s.Send(ctxT(t), []byte(m.data)); err != nil {
					t.Fatal(err)
				}
				got := recv(t, msgs)
				if got.MessageType != m.typ || string(got.Data) != m.data || !got.IsMessageComplete {
					t.Errorf("received %v %q complete=%v, want %v %q", got.MessageType, got.Data, got.IsMessageComplete, m.typ, m.data)
				}
			}
			if bw := s.Information().BandwidthStatistics; bw.OutboundBitsPerSecond == 0 || bw.InboundBitsPerSecond == 0 {
				t.Errorf("BandwidthStatistics = %+v", bw)
			}
			if s.Information().LocalAddress == nil {
				t.Error("no LocalAddress")
			}
			if err := s.Close(1000, "done"); err != nil {
				t.Errorf("Close: %v", err)
			}
			if ev := recv(t, closed); ev.Code != 1000 || ev.Reason != "done" {
				t.Errorf("Closed = %+v", ev)
			}
			if err := s.Send(ctxT(t), []byte("late")); err == nil {
				t.Error("Send after Close succeeded")
			}
			if _, ok := headers.Load(tc.name); !ok {
				t.Error("the custom request header did not reach the server")
			}
		})
	}
}

func TestMessageWebSocketServerClose(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(wsServer(t, nil))
	t.Cleanup(hs.Close)
	for _, tc := range wsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.message()
			closed := make(chan shim.WebSocketClosedEventArgs, 1)
			s.OnMessageReceived(func(shim.MessageWebSocketMessageReceivedEventArgs) {})
			s.OnClosed(func(e shim.WebSocketClosedEventArgs) { closed <- e })
			if err := s.Connect(ctxT(t), wsURL(hs)+"/echo"); err != nil {
				t.Fatal(err)
			}
			s.Send(ctxT(t), []byte("close-me"))
			if ev := recv(t, closed); ev.Code != 4001 || ev.Reason != "bye" {
				t.Errorf("Closed = %+v, want 4001 bye", ev)
			}
			s.Close(1000, "")
		})
	}
}

func TestMessageWebSocketPartial(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(wsServer(t, nil))
	t.Cleanup(hs.Close)
	for _, tc := range wsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.message()
			msgs := make(chan shim.MessageWebSocketMessageReceivedEventArgs, 16)
			s.OnMessageReceived(func(m shim.MessageWebSocketMessageReceivedEventArgs) { msgs <- m })
			s.Control().SetReceiveMode(shim.ReceiveModePartialMessage)
			if err := s.Connect(ctxT(t), wsURL(hs)+"/frames"); err != nil {
				t.Fatal(err)
			}
			defer s.Close(1000, "")
			var all bytes.Buffer
			parts := 0
			for {
				m := recv(t, msgs)
				parts++
				all.Write(m.Data)
				if m.MessageType != shim.MessageTypeUtf8 {
					t.Errorf("part %d: type %v", parts, m.MessageType)
				}
				if m.IsMessageComplete {
					break
				}
			}
			if all.String() != "one two three" || parts < 2 {
				t.Errorf("got %q in %d parts, want the message in several", all.String(), parts)
			}
		})
	}
}

func TestWebSocketHandshakeErrors(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(wsServer(t, nil))
	t.Cleanup(hs.Close)
	for _, tc := range wsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			connect := func(path string, setup func(*shim.MessageWebSocket)) error {
				s := tc.message()
				s.OnMessageReceived(func(shim.MessageWebSocketMessageReceivedEventArgs) {})
				setup(s)
				err := s.Connect(ctxT(t), wsURL(hs)+path)
				if err == nil {
					s.Close(1000, "")
				}
				return err
			}
			err := connect("/requires", func(s *shim.MessageWebSocket) { s.Control().SetSupportedProtocols("chat.v1") })
			if err == nil || !strings.Contains(err.Error(), `"chat.v2"`) || shim.GetWebStatus(err) != shim.WebErrorBadRequest {
				t.Errorf("subprotocol mismatch: err = %v (status %v), want BadRequest naming \"chat.v2\"", err, shim.GetWebStatus(err))
			}
			if err := connect("/requires", func(s *shim.MessageWebSocket) { s.Control().SetSupportedProtocols("chat.v1", "chat.v2") }); err != nil {
				t.Errorf("offering the required subprotocol: %v", err)
			}
			err = connect("/auth", func(*shim.MessageWebSocket) {})
			if shim.GetWebStatus(err) != shim.WebErrorUnauthorized {
				t.Errorf("no credential: err = %v, want Unauthorized", err)
			}
			if err := connect("/auth", func(s *shim.MessageWebSocket) {
				s.Control().SetServerCredential(&shim.PasswordCredential{UserName: "ada", Password: "s3cret"})
			}); err != nil {
				t.Errorf("with a credential: %v", err)
			}
			if err := connect("/nowhere", func(*shim.MessageWebSocket) {}); shim.GetWebStatus(err) != shim.WebErrorNotFound {
				t.Errorf("404: err = %v (status %v)", err, shim.GetWebStatus(err))
			}
			err = new(shim.MessageWebSocket).Connect(ctxT(t), wsURL(hs)+"/echo")
			if !errors.Is(err, shim.ErrInvalidArgument) {
				t.Errorf("no handler: err = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestSecureWebSocket(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "wss")
	other := testutil.NewCA(t, "other")
	clientCA := testutil.NewCA(t, "ws clients")
	hs := httptest.NewUnstartedServer(wsServer(t, nil))
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t)}, ClientCAs: clientCA.Pool, ClientAuth: tls.VerifyClientCertIfGiven}
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	hs.StartTLS()
	t.Cleanup(hs.Close)
	u := wsURL(hs) + "/echo"
	crt := clientCA.ClientCert(t, "app")
	for _, tc := range wsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.stream()
			s.Control().SetTrustedRoots(ca.Pool)
			s.Control().SetClientCertificate(&crt)
			if err := s.Connect(ctxT(t), u); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Write([]byte("over wss")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 8)
			if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "over wss" {
				t.Fatalf("read %q, %v", buf, err)
			}
			info := s.Information()
			if info.ServerCertificate == nil || len(info.ServerIntermediateCertificates) != 1 {
				t.Errorf("certificate info: %+v", info)
			}
			s.Close(1000, "")

			u2 := tc.stream()
			u2.Control().SetTrustedRoots(other.Pool)
			err := u2.Connect(ctxT(t), u)
			if shim.GetStatus(err) != shim.SocketErrorCertificateUntrustedRoot || shim.GetWebStatus(err) != shim.WebErrorCertificateContainsErrors {
				t.Errorf("untrusted: err = %v (socket %v, web %v)", err, shim.GetStatus(err), shim.GetWebStatus(err))
			}
			u3 := tc.stream()
			u3.Control().SetTrustedRoots(other.Pool)
			u3.Control().SetIgnorableServerCertificateErrors(shim.ChainValidationUntrusted)
			if err := u3.Connect(ctxT(t), u); err != nil {
				t.Errorf("untrusted but ignored: %v", err)
			} else {
				if got := u3.Information().ServerCertificateErrors; len(got) != 1 || got[0] != shim.ChainValidationUntrusted {
					t.Errorf("ServerCertificateErrors = %v", got)
				}
				u3.Close(1000, "")
			}
		})
	}
}

func TestStreamWebSocket(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(wsServer(t, nil))
	t.Cleanup(hs.Close)
	for _, tc := range wsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.stream()
			closed := make(chan shim.WebSocketClosedEventArgs, 1)
			s.OnClosed(func(e shim.WebSocketClosedEventArgs) { closed <- e })
			if err := s.Connect(ctxT(t), wsURL(hs)+"/echo"); err != nil {
				t.Fatal(err)
			}
			want := bytes.Repeat([]byte("stream-"), 10000)
			go func() {
				for i := 0; i < len(want); i += 7000 {
					s.Write(want[i:min(i+7000, len(want))])
				}
			}()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("stream echo: %v (equal=%v)", err, bytes.Equal(got, want))
			}
			s.Write([]byte("close-me"))
			_, err := s.Read(make([]byte, 10))
			if err == nil || errors.Is(err, io.EOF) {
				t.Errorf("Read after a 4001 close: %v, want an error", err)
			}
			if ev := recv(t, closed); ev.Code != 4001 || ev.Reason != "bye" {
				t.Errorf("Closed = %+v", ev)
			}
			s.Close(1000, "")
		})
	}
}

func ExampleMessageWebSocket() {
	// A local echo server stands in for a real service.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"chat"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, b, _ := c.Read(r.Context())
		c.Write(r.Context(), typ, b)
		c.Read(r.Context())
	}))
	defer hs.Close()

	ws := shim.NewMessageWebSocket(nil)
	got := make(chan string, 1)
	ws.OnMessageReceived(func(m shim.MessageWebSocketMessageReceivedEventArgs) {
		got <- fmt.Sprintf("%v %s", m.MessageType, m.Data)
	})
	ws.Control().SetMessageType(shim.MessageTypeUtf8)
	ws.Control().SetSupportedProtocols("chat")
	ws.SetRequestHeader("X-Client", "example")
	ctx := context.Background()
	if err := ws.Connect(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")); err != nil {
		log.Fatal(shim.GetWebStatus(err), err)
	}
	fmt.Println("protocol:", ws.Information().Protocol)
	ws.Send(ctx, []byte("hello"))
	fmt.Println(<-got)
	ws.Close(1000, "done")
	// Output:
	// protocol: chat
	// Utf8 hello
}

func ExampleStreamWebSocket() {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, b, _ := c.Read(r.Context())
		c.Write(r.Context(), websocket.MessageBinary, bytes.ToUpper(b))
		c.Close(websocket.StatusNormalClosure, "")
	}))
	defer hs.Close()

	ws := shim.NewStreamWebSocket(nil)
	if err := ws.Connect(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http")); err != nil {
		log.Fatal(err)
	}
	ws.Write([]byte("shout"))
	b, err := io.ReadAll(ws) // until the server's normal closure
	fmt.Println(string(b), err)
	ws.Close(1000, "")
	// Output: SHOUT <nil>
}

// TestMessageWebSocketUTF8: Send refuses a Utf8 message that is not UTF-8
// and sends nothing; a text message from the server that is not UTF-8
// closes the socket with 1007, in both receive modes and with both clients.
func TestMessageWebSocketUTF8(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(wsServer(t, nil))
	t.Cleanup(hs.Close)
	cases := wsCases(t)
	t.Run("group", func(t *testing.T) { // returns once its parallel subtests are done
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				s := tc.message()
				msgs := make(chan shim.MessageWebSocketMessageReceivedEventArgs, 16)
				s.OnMessageReceived(func(m shim.MessageWebSocketMessageReceivedEventArgs) { msgs <- m })
				if err := s.Connect(ctxT(t), wsURL(hs)+"/echo"); err != nil {
					t.Fatal(err)
				}
				defer s.Close(1000, "")
				s.Control().SetMessageType(shim.MessageTypeUtf8)
				err := s.Send(ctxT(t), []byte("caf\xe9"))
				if !errors.Is(err, shim.ErrInvalidArgument) || !strings.Contains(err.Error(), "UTF-8") {
					t.Fatalf("Send of invalid UTF-8 as Utf8: %v, want ErrInvalidArgument naming UTF-8", err)
				}
				s.Control().SetMessageType(shim.MessageTypeBinary)
				if err := s.Send(ctxT(t), []byte("caf\xe9")); err != nil {
					t.Fatalf("the same bytes as Binary: %v", err)
				}
				if got := recv(t, msgs); got.MessageType != shim.MessageTypeBinary || string(got.Data) != "caf\xe9" {
					t.Errorf("echo %v %q: the refused message went out, or the Binary one did not", got.MessageType, got.Data)
				}
			})
			for _, mode := range []shim.MessageWebSocketReceiveMode{shim.ReceiveModeFullMessage, shim.ReceiveModePartialMessage} {
				t.Run(tc.name+"/receive/"+mode.String(), func(t *testing.T) {
					t.Parallel()
					s := tc.message()
					s.Control().SetReceiveMode(mode)
					msgs := make(chan shim.MessageWebSocketMessageReceivedEventArgs, 16)
					closed := make(chan shim.WebSocketClosedEventArgs, 1)
					s.OnMessageReceived(func(m shim.MessageWebSocketMessageReceivedEventArgs) { msgs <- m })
					s.OnClosed(func(e shim.WebSocketClosedEventArgs) { closed <- e })
					if err := s.Connect(ctxT(t), wsURL(hs)+"/badtext"); err != nil {
						t.Fatal(err)
					}
					if ev := recv(t, closed); ev.Code != 1007 {
						t.Errorf("Closed = %+v, want code 1007", ev)
					}
					for len(msgs) > 0 {
						if m := <-msgs; m.IsMessageComplete {
							t.Errorf("the invalid message was delivered: %q", m.Data)
						}
					}
				})
			}
		}
	})
	for i := 0; i < 2*len(cases); i++ {
		if code := recv(t, badTextCloses); code != websocket.StatusInvalidFramePayloadData {
			t.Errorf("the server saw close status %d, want 1007", code)
		}
	}
}
