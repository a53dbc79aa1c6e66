//go:build js

// Package wasmresume is the browser side of internal/e2e's
// TestResumeBrowser: streams through a real relay process whose WebSocket
// the native harness kills several times must arrive exactly.
package wasmresume

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil/jsenv"
	"github.com/sockshim/sockshim/shim"
)

func envInt(t *testing.T, name string) int {
	t.Helper()
	n, err := strconv.Atoi(jsenv.Env(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// TestStreamsSurviveKills: SOCKSHIM_RESUME_STREAMS echo streams send
// SOCKSHIM_RESUME_MIB MiB in all and read it back while the harness kills
// the WebSocket SOCKSHIM_RESUME_KILLS times; the sha256 of what came back
// equals what was sent on every stream, and the app heard Reconnecting and
// Resumed for every kill, never Lost.
func TestStreamsSurviveKills(t *testing.T) {
	kills := envInt(t, "SOCKSHIM_RESUME_KILLS")
	streams := envInt(t, "SOCKSHIM_RESUME_STREAMS")
	per := envInt(t, "SOCKSHIM_RESUME_MIB") << 20 / streams
	// A blackholed WebSocket is noticed by the session's keepalive: with
	// resume it drops the link and reconnects instead of failing.
	peerTimeout, err := time.ParseDuration(jsenv.Env(t, "SOCKSHIM_RESUME_PEER_TIMEOUT"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	count := map[shim.SessionStatus]int{}
	var lost []shim.SessionEvent
	tr := shim.RelayTransport(jsenv.Env(t, "SOCKSHIM_RESUME_RELAY_URL"), &shim.RelayOptions{
		Resume:      &shim.ResumeOptions{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second},
		PeerTimeout: peerTimeout,
		OnStatus: func(e shim.SessionEvent) {
			mu.Lock()
			defer mu.Unlock()
			count[e.Status]++
			if e.Status == shim.SessionLost {
				lost = append(lost, e)
			}
			if e.Status == shim.SessionReconnecting {
				t.Logf("%v: %v (status %v)", time.Now().Format("15:04:05.000"), e, shim.GetStatus(e.Err))
			}
		},
	})
	defer tr.Close()
	h, port := jsenv.Addr(t, "SOCKSHIM_ECHO_ADDR")
	start := time.Now()
	errc := make(chan error, streams)
	for i := range streams {
		go func() { errc <- echoStream(tr, h, port, i, per) }()
	}
	for range streams {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	mib := float64(streams*per) / (1 << 20)
	t.Logf("%.0f MiB each way through %d streams in %v (%.1f MiB/s), sha256 equal on every stream", mib, streams, took.Round(time.Millisecond), mib/took.Seconds())
	// The last resume's Resumed may be a moment behind the data.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := count[shim.SessionResumed]
		mu.Unlock()
		if n >= kills || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("session events: %v", count)
	if count[shim.SessionResumed] < kills || count[shim.SessionReconnecting] != count[shim.SessionResumed] {
		t.Errorf("%d kills: the app heard %d Reconnecting, %d Resumed", kills, count[shim.SessionReconnecting], count[shim.SessionResumed])
	}
	if count[shim.SessionConnected] != 1 || len(lost) > 0 {
		t.Errorf("the session did not survive: %d sessions connected, lost %v", count[shim.SessionConnected], lost)
	}
}

// echoStream sends per bytes (a random stream seeded by i) through an echo
// server and checks that the same bytes come back.
func echoStream(tr shim.Transport, h *shim.HostName, port string, i, per int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := shim.NewStreamSocket(tr)
	defer s.Close()
	if err := s.Connect(ctx, h, port); err != nil {
		return fmt.Errorf("stream %d: %w", i, err)
	}
	s.SetDeadline(time.Now().Add(4 * time.Minute))
	sent := sha256.New()
	werr := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(uint64(i), uint64(per)))
		buf := make([]byte, 32<<10)
		for n := 0; n < per; {
			m := min(len(buf), per-n, 1+rng.IntN(len(buf)))
			for j := range buf[:m] {
				buf[j] = byte(rng.Uint32())
			}
			sent.Write(buf[:m])
			if _, err := s.Write(buf[:m]); err != nil {
				werr <- fmt.Errorf("stream %d: write after %d bytes: %w (status %v)", i, n, err, shim.GetStatus(err))
				return
			}
			n += m
		}
		werr <- nil
	}()
	got := sha256.New()
	buf := make([]byte, 64<<10)
	for n := 0; n < per; {
		m, err := s.Read(buf[:min(len(buf), per-n)])
		got.Write(buf[:m])
		n += m
		if err != nil {
			return fmt.Errorf("stream %d: read after %d bytes: %w (status %v)", i, n, err, shim.GetStatus(err))
		}
	}
	if err := <-werr; err != nil {
		return err
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		return fmt.Errorf("stream %d: the sha256 of the %d bytes echoed differs from what was sent", i, per)
	}
	return nil
}
