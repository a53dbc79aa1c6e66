//go:build !js

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// scrape reads one metric from the relay process's /metrics, on a
// connection of its own that it closes (no descriptor of the scrape stays).
func scrape(t *testing.T, p *relayProc, name string) float64 {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in 30 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrokerReleasesDescriptors runs the real relay process: eight streams
// are transferred and their session closed; the relay holds exactly their
// eight sockets (process_open_fds), then releases every one when the 5 s
// leases end, with one log line each; the peers see the closes.
func TestBrokerReleasesDescriptors(t *testing.T) {
	t.Parallel()
	ended := make(chan struct{}, 8)
	peer := testutil.Serve(t, func(c net.Conn) {
		io.Copy(io.Discard, c)
		ended <- struct{}{}
	})
	cfg := writeConfig(t, `{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"],"loopbackExempt":true,"broker":{"ttlSeconds":5}}]}`)
	p := startRelay(t, "-config", cfg)
	base := scrape(t, p, "process_open_fds")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := wispclient.Dial(ctx, p.url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		st, err := s.Open(ctx, wisp.StreamTCP, "127.0.0.1", uint16(peer.Port))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Transfer(ctx, wisp.Transfer{SocketID: "s" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	transferred := time.Now()
	s.Close()
	eventually(t, "session closed", func() bool { return scrape(t, p, "sockshim_sessions_open") == 0 })
	held, fds := scrape(t, p, "sockshim_broker_held_sockets"), scrape(t, p, "process_open_fds")
	if time.Since(transferred) < 4*time.Second { // the leases (5 s) still run
		if held != 8 || fds < base+8 {
			t.Errorf("while held: %v sockets, %v descriptors (baseline %v), want 8 and baseline+8", held, fds, base)
		}
	} else {
		t.Logf("the machine is slow: the leases may have ended before the check")
	}
	eventually(t, "held sockets released", func() bool { return scrape(t, p, "sockshim_broker_held_sockets") == 0 })
	for range 8 {
		select {
		case <-ended:
		case <-time.After(30 * time.Second):
			t.Fatal("a peer never saw its held connection close")
		}
	}
	eventually(t, "descriptors back to the baseline", func() bool { return scrape(t, p, "process_open_fds") <= base })
	if n := strings.Count(p.stderr.String(), "relay: broker released a held socket"); n != 8 {
		t.Errorf("%d release log lines, want 8:\n%s", n, p.stderr)
	}
	if got := scrape(t, p, "sockshim_broker_expired_total"); got != 8 {
		t.Errorf("sockshim_broker_expired_total = %v, want 8", got)
	}
}

// TestBrokerSIGTERMClosesHeld: the relay process shuts down with a held
// socket: it exits cleanly and the peer sees the close.
func TestBrokerSIGTERMClosesHeld(t *testing.T) {
	t.Parallel()
	ended := make(chan struct{}, 1)
	peer := testutil.Serve(t, func(c net.Conn) {
		io.Copy(io.Discard, c)
		ended <- struct{}{}
	})
	p := startRelay(t, "-config", writeConfig(t, loopbackConfig))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := wispclient.Dial(ctx, p.url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Open(ctx, wisp.StreamTCP, "127.0.0.1", uint16(peer.Port))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Transfer(ctx, wisp.Transfer{SocketID: "kept"}); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("relay exit: %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("relay did not exit on SIGTERM")
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the held socket's peer never saw the close")
	}
	if !strings.Contains(p.stderr.String(), "relay shutting down") {
		t.Errorf("no release line for the shutdown:\n%s", p.stderr)
	}
}
