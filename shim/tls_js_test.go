//go:build js

package shim_test

// Browser-side TLS and WebSocket tests. The native harness
// internal/e2e/tls_test.go starts the servers and runs
// `GOOS=js GOARCH=wasm go test -run TestJS ./shim/` in Node or Chromium
// with their addresses in SOCKSHIM_* variables; a missing variable is a
// failure, not a skip.

import (
	"crypto/x509"
	"io"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/testutil/jsenv"
	"github.com/sockshim/sockshim/shim"
)

func jsRoots(t *testing.T) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM([]byte(jsenv.Env(t, "SOCKSHIM_TLS_CA_PEM"))) {
		t.Fatal("SOCKSHIM_TLS_CA_PEM holds no certificate")
	}
	return p
}

func TestJSConnectTLS(t *testing.T) {
	tr := shim.RelayTransport(jsenv.Env(t, "SOCKSHIM_RELAY_URL"), nil)
	t.Cleanup(func() { tr.Close() })
	h, port := jsenv.Addr(t, "SOCKSHIM_TLS_ADDR")
	s := shim.NewStreamSocket(tr)
	defer s.Close()
	s.Control().SetTrustedRoots(jsRoots(t))
	if err := s.ConnectWithProtectionLevel(jsenv.Context(t), h, port, shim.ProtectionLevelSsl); err != nil {
		t.Fatal(err)
	}
	if got := s.Information().ProtectionLevel; got != shim.ProtectionLevelSsl {
		t.Errorf("ProtectionLevel = %v", got)
	}
	msg := "hello from the browser over TLS"
	io.WriteString(s, msg)
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

func TestJSCertificateErrors(t *testing.T) {
	tr := shim.RelayTransport(jsenv.Env(t, "SOCKSHIM_RELAY_URL"), nil)
	t.Cleanup(func() { tr.Close() })
	for _, tc := range []struct {
		name, addr string
		roots      bool
		want       shim.SocketErrorStatus
	}{
		{"expired", "SOCKSHIM_TLS_EXPIRED_ADDR", true, shim.SocketErrorCertificateExpired},
		{"wrong host", "SOCKSHIM_TLS_WRONGHOST_ADDR", true, shim.SocketErrorCertificateCommonNameIsIncorrect},
		// The bundled (x509roots/fallback) roots do not hold the test CA.
		{"untrusted by the bundled roots", "SOCKSHIM_TLS_ADDR", false, shim.SocketErrorCertificateUntrustedRoot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, port := jsenv.Addr(t, tc.addr)
			s := shim.NewStreamSocket(tr)
			defer s.Close()
			if tc.roots {
				s.Control().SetTrustedRoots(jsRoots(t))
			}
			err := s.ConnectWithProtectionLevel(jsenv.Context(t), h, port, shim.ProtectionLevelSsl)
			if shim.GetStatus(err) != tc.want {
				t.Errorf("err = %v (status %v), want %v", err, shim.GetStatus(err), tc.want)
			}
		})
	}
}

func TestJSMessageWebSocket(t *testing.T) {
	wsURL := jsenv.Env(t, "SOCKSHIM_WS_URL")
	relay := shim.RelayTransport(jsenv.Env(t, "SOCKSHIM_RELAY_URL"), nil)
	t.Cleanup(func() { relay.Close() })
	for _, tc := range []struct {
		name   string
		tr     shim.Transport
		header bool // forces the tunnelled path
	}{{"browser WebSocket", nil, false}, {"tunnelled", relay, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ws := shim.NewMessageWebSocket(tc.tr)
			msgs := make(chan shim.MessageWebSocketMessageReceivedEventArgs, 8)
			closed := make(chan shim.WebSocketClosedEventArgs, 1)
			ws.OnMessageReceived(func(m shim.MessageWebSocketMessageReceivedEventArgs) { msgs <- m })
			ws.OnClosed(func(e shim.WebSocketClosedEventArgs) { closed <- e })
			ws.Control().SetSupportedProtocols("chat.v2")
			if tc.header {
				ws.SetRequestHeader("X-Sockshim-Test", "from-wasm")
			}
			if err := ws.Connect(jsenv.Context(t), wsURL+"/echo"); err != nil {
				t.Fatal(err)
			}
			if got := ws.Information().Protocol; got != "chat.v2" {
				t.Errorf("Protocol = %q", got)
			}
			if tc.header {
				if m := <-msgs; string(m.Data) != "X-Sockshim-Test: from-wasm" {
					t.Errorf("the server saw header %q", m.Data)
				}
			}
			for _, typ := range []shim.SocketMessageType{shim.MessageTypeUtf8, shim.MessageTypeBinary} {
				ws.Control().SetMessageType(typ)
				if err := ws.Send(jsenv.Context(t), []byte("ping "+typ.String())); err != nil {
					t.Fatal(err)
				}
				m := <-msgs
				if m.MessageType != typ || string(m.Data) != "ping "+typ.String() {
					t.Errorf("got %v %q", m.MessageType, m.Data)
				}
			}
			ws.Send(jsenv.Context(t), []byte("close-me"))
			ev := <-closed
			if ev.Code != 4001 || ev.Reason != "bye" || !ev.WasClean {
				t.Errorf("Closed = %+v, want 4001 bye, clean", ev)
			}
			ws.Close(1000, "")
		})
	}
	t.Run("subprotocol mismatch", func(t *testing.T) {
		ws := shim.NewMessageWebSocket(relay)
		ws.OnMessageReceived(func(shim.MessageWebSocketMessageReceivedEventArgs) {})
		ws.SetRequestHeader("X-Sockshim-Test", "mismatch") // the tunnelled path sees the server's answer
		ws.Control().SetSupportedProtocols("chat.v1")
		err := ws.Connect(jsenv.Context(t), wsURL+"/requires")
		if err == nil || !strings.Contains(err.Error(), `"chat.v2"`) || shim.GetWebStatus(err) != shim.WebErrorBadRequest {
			t.Errorf("err = %v (status %v), want BadRequest naming \"chat.v2\"", err, shim.GetWebStatus(err))
		}
	})
}
