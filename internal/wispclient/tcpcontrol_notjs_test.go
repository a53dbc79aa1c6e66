//go:build !js

package wispclient_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// TestStatsAndPing: STATS answers with the relay's TCP_INFO while the
// stream is open; a stream the destination closed fails Stats instead of
// leaving it waiting; PING round trips are measured and summarised.
func TestStatsAndPing(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, err := wispclient.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if !sess.TCPControl() {
		t.Fatal("the relay did not negotiate TCP control")
	}

	echo := testutil.EchoServer(t)
	st, err := sess.OpenTCP(ctx, "127.0.0.1", uint16(echo.Port), wisp.TCPOptions{HopLimit: 5, Serialize: true})
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte("abc"))
	if _, err := io.ReadFull(st, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !stats.Valid || stats.RTT == 0 || stats.BytesReceived != 3 || stats.BytesAcked < 3 || stats.ElapsedMicros == 0 {
		t.Errorf("STATS %+v", stats)
	}
	st.Close()
	if _, err := st.Stats(ctx); err == nil {
		t.Error("Stats after Close succeeded")
	}

	// The destination resets at once: Stats ends with the stream.
	gone := testutil.Serve(t, func(c net.Conn) {
		c.Write([]byte("x"))
		c.Read(make([]byte, 1))
		c.(*net.TCPConn).SetLinger(0)
	})
	st2, err := sess.Open(ctx, wisp.StreamTCP, "127.0.0.1", uint16(gone.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if _, err := io.ReadFull(st2, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	st2.Write([]byte("y"))
	io.ReadAll(st2) // until the relay's CLOSE (reset)
	if _, err := st2.Stats(ctx); err == nil || ctx.Err() != nil {
		t.Errorf("Stats of an ended stream: %v (context %v)", err, ctx.Err())
	}

	for range 3 {
		if d, err := sess.Ping(ctx); err != nil || d <= 0 {
			t.Fatalf("Ping: %v %v", d, err)
		}
	}
	rt := sess.RoundTrips()
	if rt.Samples < 3 || rt.Min <= 0 || rt.Min > rt.Max || rt.Smoothed < rt.Min || rt.Smoothed > rt.Max {
		t.Errorf("round trips %+v", rt)
	}
}

// TestTCPControlOnPlainWisp: a v1 session has no extension: options and
// STATS fail with ErrNoTCPControl (errors.ErrUnsupported), defaults open.
func TestTCPControlOnPlainWisp(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, err := wispclient.Dial(ctx, url, &wispclient.Options{V1: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	echo := testutil.EchoServer(t)
	if _, err := sess.OpenTCP(ctx, "127.0.0.1", uint16(echo.Port), wisp.TCPOptions{SendBuffer: 1}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("OpenTCP with options on v1: %v", err)
	}
	st, err := sess.OpenTCP(ctx, "127.0.0.1", uint16(echo.Port), wisp.TCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Stats(ctx); !errors.Is(err, wispclient.ErrNoTCPControl) {
		t.Errorf("Stats on v1: %v", err)
	}
	if _, err := sess.Ping(ctx); !errors.Is(err, wispclient.ErrNoLiveness) {
		t.Errorf("Ping on v1: %v", err)
	}
}
