//go:build linux

package relay_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/relay"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

const upgradeRequest = "GET /wisp/ HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wisp-v2\r\n\r\n"

// badClient misbehaves one of three ways against addr: it hangs up right
// after the upgrade (during the Wisp handshake), sends half an upgrade
// request and hangs up, or upgrades and then says nothing, waiting for the
// relay to give up on it.
func badClient(addr string, kind int) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	req := fmt.Sprintf(upgradeRequest, addr)
	if kind == 1 {
		_, err := io.WriteString(c, req[:len(req)/2])
		return err
	}
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("upgrade: %s", resp.Status)
	}
	if kind == 0 {
		return nil // hang up during the handshake
	}
	// Silent: the relay must close the connection after its handshake
	// deadline; reading its INFO and then EOF proves it did.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("silent client: the relay did not close: %w", err)
	}
	return nil
}

// TestHandshakeHangupsReleaseEverything: 5,000 clients that hang up during
// the Wisp handshake, send a truncated upgrade, or go silent after the
// upgrade leave the relay's descriptors and goroutines at their baseline,
// every abandoned handshake is counted, and a good client still connects.
func TestHandshakeHangupsReleaseEverything(t *testing.T) {
	// Not parallel: it counts the whole process's descriptors.
	srv := relay.New(&relay.Options{
		Config:           relay.DevConfig(),
		HandshakeTimeout: 500 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Config.ReadHeaderTimeout = 2 * time.Second
	hs.Start()
	defer hs.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/wisp/"
	addr := hs.Listener.Addr().String()
	echo := testutil.EchoServer(t)

	goodClient := func() {
		t.Helper()
		s := dial(t, url, nil)
		st, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", echo.AddrPort().Port())
		if err != nil {
			t.Fatalf("good client: %v", err)
		}
		st.Write([]byte("hi"))
		b := make([]byte, 2)
		if _, err := io.ReadFull(st, b); err != nil {
			t.Fatalf("good client echo: %v", err)
		}
		st.Close()
		s.Close()
	}
	goodClient() // warm up pools, the echo server's listener, the client's goroutines
	settle := func(fds, goroutines int) (int, int) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			f, g := openFDs(t), runtime.NumGoroutine()
			if (f <= fds && g <= goroutines && srv.Stats().Sessions == 0) || time.Now().After(deadline) {
				return f, g
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	baseFDs, baseG := settle(openFDs(t), runtime.NumGoroutine())

	start := time.Now()
	const total, workers = 5000, 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := badClient(addr, i%3); err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	for i := range total {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d bad clients failed unexpectedly, first: %s", len(errs), total, errs[0])
	}

	// A little slack for the runtime's own descriptors and goroutines
	// (the poller, a timer goroutine); the leak was one per client.
	t.Logf("%d bad clients in %v", total, time.Since(start))
	fds, g := settle(baseFDs+2, baseG+3)
	t.Logf("settled %v after the start", time.Since(start))
	if fds > baseFDs+2 {
		t.Errorf("open descriptors: %d after %d bad clients, baseline %d", fds, total, baseFDs)
	}
	if g > baseG+3 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d after %d bad clients, baseline %d\n%s", g, total, baseG, buf[:runtime.Stack(buf, true)])
	}
	if st := srv.Stats(); st.Sessions != 0 {
		t.Errorf("Stats().Sessions = %d after every bad client left", st.Sessions)
	}
	// Every client that upgraded and then left or went silent abandoned
	// its handshake (truncated upgrades never reach the relay).
	n := 0
	for _, cause := range []string{"timeout", "hangup"} {
		v, _ := strconv.Atoi(metricLabel(t, srv, "sockshim_handshake_failures_total", "cause", cause))
		n += v
	}
	if want := total * 2 / 3; n < want {
		t.Errorf("handshake failures counted: %d, want at least %d", n, want)
	}
	goodClient()
}
