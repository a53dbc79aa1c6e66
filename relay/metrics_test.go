//go:build !js

package relay_test

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
)

func metricFloat(t *testing.T, v string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestMetricsForOperators: /metrics has the Go runtime and process
// collectors (open descriptors among them), bytes relayed each way, the
// dial latency histogram, session durations and handshake failures by
// cause.
func TestMetricsForOperators(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	url, srv := testutil.Relay(t, nil)
	s := dial(t, url, nil)
	st, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", echo.AddrPort().Port())
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("m"), 100000)
	go st.Write(want)
	if _, err := io.ReadFull(st, make([]byte, len(want))); err != nil {
		t.Fatal(err)
	}
	st.Close()
	s.Close()
	waitFor(t, func() bool { return srv.Stats().Sessions == 0 })

	if v := metricFloat(t, metric(t, srv, "process_open_fds")); v < 3 {
		t.Errorf("process_open_fds = %v", v)
	}
	if v := metricFloat(t, metric(t, srv, "go_goroutines")); v < 1 {
		t.Errorf("go_goroutines = %v", v)
	}
	for _, dir := range []string{"to_destination", "to_client"} {
		if v := metricFloat(t, metricLabel(t, srv, "sockshim_relayed_bytes_total", "direction", dir)); v < float64(len(want)) {
			t.Errorf("sockshim_relayed_bytes_total{direction=%q} = %v, want >= %d", dir, v, len(want))
		}
	}
	if v := metric(t, srv, "sockshim_dial_duration_seconds_count"); v != "1" {
		t.Errorf("sockshim_dial_duration_seconds_count = %s, want 1", v)
	}
	if v := metric(t, srv, "sockshim_session_duration_seconds_count"); v != "1" {
		t.Errorf("sockshim_session_duration_seconds_count = %s, want 1", v)
	}
	for _, cause := range []string{"timeout", "hangup", "protocol", "auth", "throttled"} {
		if v := metricLabel(t, srv, "sockshim_handshake_failures_total", "cause", cause); v != "0" {
			t.Errorf("handshake failures %s = %s, want 0", cause, v)
		}
	}
}
