//go:build !js

package relay_test

import (
	"io"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// TestClientCloseEndsResumableSession: a client that closes its resumable
// session ends it on the relay at once, every time; the relay must not hold
// it for a resume window. It once did about once in 50 closes: the client's
// writer, holding the cork under the WebSocket, was blocked until the close
// handshake ended, so the close frame sat in the cork and never left.
func TestClientCloseEndsResumableSession(t *testing.T) {
	echo := testutil.EchoServer(t)
	url, srv := testutil.Relay(t, nil)
	for i := range 300 {
		s, err := wispclient.Dial(ctxT(t), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", echo.AddrPort().Port())
		if err != nil {
			t.Fatal(err)
		}
		st.Write([]byte("hi"))
		if _, err := io.ReadFull(st, make([]byte, 2)); err != nil {
			t.Fatal(err)
		}
		st.Close()
		s.Close()
		deadline := time.Now().Add(10 * time.Second)
		for srv.Stats().Sessions != 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n, d := srv.Stats().Sessions, srv.ResumeStats().Detached; n != 0 {
			t.Fatalf("close %d: the relay still has %d sessions (%d detached for a resume)", i, n, d)
		}
	}
}
