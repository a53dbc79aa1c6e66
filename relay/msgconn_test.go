//go:build !js

package relay_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/relay"
)

// edgeRelay serves the relay in edge mode through ServeMessages, as
// cmd/edge does, with a dialer that records what it was asked to dial and
// reaches only the echo server (names included: there is no DNS here).
func edgeRelay(t *testing.T, echo *net.TCPAddr) (url string, dialed func() []string) {
	var mu sync.Mutex
	var hosts []string
	srv := relay.New(&relay.Options{
		Config: relay.DevConfig(),
		Edge: &relay.EdgeOptions{
			Name:                 "the test edge",
			MaxStreamsPerSession: 3,
			Dial: func(ctx context.Context, host string, port uint16, tls bool) (net.Conn, error) {
				mu.Lock()
				hosts = append(hosts, host+":"+strconv.Itoa(int(port))+":"+strconv.FormatBool(tls))
				mu.Unlock()
				var d net.Dialer
				return d.DialContext(ctx, "tcp", echo.String())
			},
		},
	})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, text, ok := srv.AdmitUpgrade(r); !ok {
			http.Error(w, text, status)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"wisp-v2"}})
		if err != nil {
			return
		}
		srv.ServeMessages(c, r)
	}))
	t.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/wisp/", func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), hosts...)
	}
}

func TestEdgeMode(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	url, dialed := edgeRelay(t, echo)
	s := dial(t, url, nil)
	p, ok := s.Profile()
	if !ok || p.Name != "the test edge" || p.MaxStreams != 3 || !s.RelayTLS() {
		t.Fatalf("relay profile %+v (sent: %v)", p, ok)
	}
	for _, id := range []wisp.ExtensionID{wisp.ExtUDP, wisp.ExtBoundUDP, wisp.ExtListen, wisp.ExtWebRTC} {
		if s.Extension(id) {
			t.Errorf("the edge advertises extension 0x%02x", uint8(id))
		}
	}
	if _, err := s.DialUDP(ctxT(t), "127.0.0.1", 9); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "the test edge") {
		t.Errorf("UDP: %v", err)
	}
	if _, err := s.Listen(ctxT(t), "", 0, 0); !errors.Is(err, wispclient.ErrNoListen) || !strings.Contains(err.Error(), "the test edge") {
		t.Errorf("listen: %v", err)
	}
	// A name goes to the dialer unresolved; a literal as checked; relay
	// TLS asks the dialer for TLS.
	var open []*wispclient.Stream
	for _, c := range []struct {
		typ  wisp.StreamType
		host string
	}{{wisp.StreamTCP, "echo.example"}, {wisp.StreamTCP, "::ffff:127.0.0.1"}, {wisp.StreamTLS, "tls.example"}} {
		st, err := s.Open(ctxT(t), c.typ, c.host, 7)
		if err != nil {
			t.Fatalf("open %s: %v", c.host, err)
		}
		open = append(open, st)
	}
	want := map[string]bool{"echo.example:7:false": true, "127.0.0.1:7:false": true, "tls.example:7:true": true}
	for _, h := range dialed() {
		if !want[h] {
			t.Errorf("dialed %s; want exactly %v", h, want)
		}
		delete(want, h)
	}
	if len(want) > 0 {
		t.Errorf("not dialed: %v", want)
	}
	// The fourth stream is over the cap of 3.
	_, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", 7)
	var ce *wisp.CloseError
	if !errors.As(err, &ce) || ce.Reason != wisp.ReasonThrottled || !strings.Contains(err.Error(), "allows 3 open streams") {
		t.Errorf("4th stream: %v, want CLOSE 0x49 naming the cap", err)
	}
	for _, st := range open {
		st.Close()
	}
	// The checks that need no DNS still run (another session: its own cap).
	s2 := dial(t, url, nil)
	if _, err := s2.Open(ctxT(t), wisp.StreamTCP, "mail.example", 25); !errors.As(err, &ce) || ce.Reason != wisp.ReasonBlocked {
		t.Errorf("port 25: %v, want CLOSE 0x48", err)
	}
	if _, err := s2.Open(ctxT(t), wisp.StreamTCP, "0x7f.1", 7); !errors.As(err, &ce) || ce.Reason != wisp.ReasonInvalid {
		t.Errorf("numeric host: %v, want CLOSE 0x41", err)
	}
	if n := len(dialed()); n != 3 {
		t.Errorf("%d dials, want the 3 allowed ones only", n)
	}
}
