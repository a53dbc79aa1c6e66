//go:build !js

package relay_test

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/relay"
)

// blackhole is a TCP proxy to target that, once dropped, forwards nothing
// more either way and closes nothing: a peer that vanished without a FIN.
type blackhole struct {
	addr string
	drop chan struct{}
	done chan struct{} // the test is over
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	b := &blackhole{drop: make(chan struct{}), done: make(chan struct{})}
	a := testutil.Serve(t, func(c net.Conn) {
		up, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer up.Close()
		copyUntil := func(dst, src net.Conn) {
			buf := make([]byte, 32<<10)
			for {
				src.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				n, err := src.Read(buf)
				select {
				case <-b.drop:
					return // swallow everything from now on
				default:
				}
				if n > 0 {
					dst.Write(buf[:n])
				}
				if err != nil && !isTimeout(err) {
					return
				}
			}
		}
		go copyUntil(up, c)
		copyUntil(c, up)
		<-b.drop
		<-b.done // hold both sockets open, silent
	})
	t.Cleanup(func() { close(b.done) }) // runs before Serve's cleanup waits for handlers
	b.addr = a.String()
	return b
}

func (b *blackhole) cut() { close(b.drop) }

// TestDeadPeerDetected: a client whose path goes silent (no FIN, no RST)
// is noticed within PeerTimeout, counted, and logged with the cause. The
// first ping is due at PeerTimeout/2: before, the first was skipped and a
// dead peer took 1.5 intervals longer.
func TestDeadPeerDetected(t *testing.T) {
	t.Parallel()
	const peerTimeout = 4 * time.Second
	var logs logBuf
	url, srv := testutil.Relay(t, &relay.Options{
		PeerTimeout: peerTimeout,
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
		// A resumable session outlives its dead link (it is held for a
		// resume), so this test of how the session ends runs without.
		Resume: &relay.ResumeOptions{Disabled: true},
	})
	relayAddr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/wisp/")
	bh := newBlackhole(t, relayAddr)
	dial(t, "ws://"+bh.addr+"/wisp/", nil)
	waitFor(t, func() bool { return srv.Stats().Sessions == 1 })
	start := time.Now()
	bh.cut()
	deadline := time.Now().Add(peerTimeout + 20*time.Second)
	for srv.Stats().Sessions != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("dead peer still has its session %v after the path went silent", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Ping at most peerTimeout/2 after the handshake, answered within
	// another peerTimeout/2: detected by peerTimeout after the session
	// began, so surely by peerTimeout after the cut. A second is slack
	// for a loaded machine; the skipped first ping took 1.5 x longer.
	if d := time.Since(start); d > peerTimeout+time.Second {
		t.Errorf("dead peer detected after %v, want within PeerTimeout %v", d, peerTimeout)
	}
	if got := metric(t, srv, "sockshim_dead_peers_total"); got != "1" {
		t.Errorf("sockshim_dead_peers_total = %s, want 1", got)
	}
	if !strings.Contains(logs.String(), "dead peer") {
		t.Errorf("the log does not name the cause:\n%s", logs.String())
	}
}
