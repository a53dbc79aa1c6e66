//go:build !js

package relay_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/relay"
)

// portGatedDialer dials for real, except to port block, where it waits for
// its context (an unresponsive host).
type portGatedDialer struct{ block string }

func (d portGatedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if _, port, _ := net.SplitHostPort(addr); port == d.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// TestShutdownDoesNotWaitOnOnePeer: one client stops reading while the
// relay writes to it, another has a stream open, a third stream is still
// dialing an unresponsive host. Shutdown closes them all at once, the good
// client's stream gets CLOSE (relay shutting down) at once, and Shutdown
// returns nil well before its deadline.
func TestShutdownDoesNotWaitOnOnePeer(t *testing.T) {
	t.Parallel()
	stalled := make(chan struct{}, 1)
	flood := testutil.Serve(t, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write(buf); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					select {
					case stalled <- struct{}{}:
					default:
					}
					continue
				}
				return
			}
		}
	})
	echo := testutil.EchoServer(t)
	unresponsive := testutil.ClosedPort(t).AddrPort().Port()
	url, srv := testutil.Relay(t, &relay.Options{
		Dialer:      portGatedDialer{block: strconv.Itoa(int(unresponsive))},
		DialTimeout: time.Minute,
	})

	// A plain Wisp client (no relay-to-client credit) that never reads.
	deaf := rawDial(t, url, false)
	deaf.connect(1, flood.AddrPort().Port())
	select {
	case <-stalled: // the relay's write to the deaf client is blocked
	case <-time.After(15 * time.Second):
		t.Fatal("the flood never filled the deaf client's buffers")
	}

	good := dial(t, url, nil)
	st, err := good.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", echo.AddrPort().Port())
	if err != nil {
		t.Fatal(err)
	}
	dialing := make(chan error, 1)
	go func() {
		_, err := good.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", unresponsive)
		dialing <- err
	}()
	waitFor(t, func() bool { return srv.Stats().Streams == 3 })

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	start := time.Now()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()

	_, err = st.Read(make([]byte, 1))
	if got := closeReason(err); got != wisp.ReasonShutdown {
		t.Errorf("open stream: %v (reason %v), want CLOSE %v", err, got, wisp.ReasonShutdown)
	}
	select {
	case err := <-dialing:
		if got := closeReason(err); got != wisp.ReasonShutdown {
			t.Errorf("dialing stream: %v, want CLOSE %v", err, wisp.ReasonShutdown)
		}
	case <-time.After(6 * time.Second):
		t.Error("a stream dialing an unresponsive host was not closed by Shutdown")
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v after %v, want nil", err, time.Since(start))
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("Shutdown took %v with a 8 s deadline; writes should have given up at 4 s", d)
	}
	if st := srv.Stats(); st.Sessions != 0 || st.Streams != 0 {
		t.Errorf("after Shutdown: %+v", st)
	}
}
