//go:build js

// Command wasm is the Go half of `make bench`'s Chromium rows: run by the
// bench's page (tools/bench/page) in headless Chromium, in the page
// or in a dedicated Worker, it drives shim.StreamSocket over RelayTransport
// with the workloads of the native bench (internal/echoload)
// and prints its result on stdout:
//
//	wasm bulk  -> "bulk_bytes=N" and "bulk_ms=F": the bulk echo, SOCKSHIM_BENCH_STREAMS
//	              streams of one session, SOCKSHIM_BENCH_PAYLOAD-byte payloads, at most
//	              SOCKSHIM_BENCH_WINDOW of them in flight per stream
//	wasm rtt   -> "rtt_n=N", "rtt_p50_us=F", "rtt_p99_us=F": SOCKSHIM_BENCH_PAYLOAD-byte
//	              round trips on one stream after 500 unmeasured ones
//
// Both call benchMark("<SOCKSHIM_BENCH_LABEL>:start") once the streams are
// open and ":end" when done, where the driver snapshots the renderer's CPU.
//
// Environment (set by tools/bench): SOCKSHIM_RELAY_URL,
// SOCKSHIM_ECHO_ADDR, SOCKSHIM_BENCH_DURATION, SOCKSHIM_BENCH_STREAMS,
// SOCKSHIM_BENCH_PAYLOAD, SOCKSHIM_BENCH_WINDOW, SOCKSHIM_BENCH_LABEL.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall/js"
	"time"

	"github.com/sockshim/sockshim/internal/echoload"
	"github.com/sockshim/sockshim/shim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench wasm:", err)
		os.Exit(1)
	}
}

func envInt(name string) (int, error) {
	v, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return 0, fmt.Errorf("%s: %v", name, err)
	}
	return v, nil
}

func run() error {
	if len(os.Args) < 2 {
		return errors.New("usage: wasm bulk|rtt")
	}
	d, err := time.ParseDuration(os.Getenv("SOCKSHIM_BENCH_DURATION"))
	if err != nil {
		return err
	}
	payload, err := envInt("SOCKSHIM_BENCH_PAYLOAD")
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(os.Getenv("SOCKSHIM_ECHO_ADDR"))
	if err != nil {
		return err
	}
	h, err := shim.NewHostName(host)
	if err != nil {
		return err
	}
	label := os.Getenv("SOCKSHIM_BENCH_LABEL")
	tr := shim.RelayTransport(os.Getenv("SOCKSHIM_RELAY_URL"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() (net.Conn, error) {
		s := shim.NewStreamSocket(tr)
		if err := s.Connect(ctx, h, port); err != nil {
			return nil, err
		}
		return s, nil
	}

	switch os.Args[1] {
	case "bulk":
		streams, err := envInt("SOCKSHIM_BENCH_STREAMS")
		if err != nil {
			return err
		}
		window, err := envInt("SOCKSHIM_BENCH_WINDOW")
		if err != nil {
			return err
		}
		conns := make([]net.Conn, 0, streams)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range streams {
			c, err := dial()
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		mark(label + ":start")
		res, err := echoload.Bulk(conns, payload, window, d)
		mark(label + ":end")
		runtime.ReadMemStats(&m1)
		mib := float64(res.Bytes) / (1 << 20)
		fmt.Fprintf(os.Stderr, "Go heap: %.0f allocations and %.0f KiB allocated per MiB echoed, %d GCs\n",
			float64(m1.Mallocs-m0.Mallocs)/mib, float64(m1.TotalAlloc-m0.TotalAlloc)/1024/mib, m1.NumGC-m0.NumGC)
		if err != nil {
			return err
		}
		fmt.Printf("bulk_bytes=%d\nbulk_ms=%.3f\n", res.Bytes, float64(res.Elapsed)/float64(time.Millisecond))
	case "rtt":
		c, err := dial()
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := echoload.RoundTrips(c, payload, 500, time.Minute); err != nil {
			return err
		}
		mark(label + ":start")
		rtts, err := echoload.RoundTrips(c, payload, 1<<20, d)
		mark(label + ":end")
		if err != nil {
			return err
		}
		slices.Sort(rtts)
		us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
		fmt.Printf("rtt_n=%d\nrtt_p50_us=%.1f\nrtt_p99_us=%.1f\n", len(rtts), us(rtts[len(rtts)/2]), us(rtts[len(rtts)*99/100]))
	default:
		return fmt.Errorf("unknown workload %q", os.Args[1])
	}
	return nil
}

// mark awaits the page's benchMark(label), the driver's CPU snapshot.
func mark(label string) {
	done := make(chan struct{})
	f := js.FuncOf(func(js.Value, []js.Value) any {
		close(done)
		return nil
	})
	defer f.Release()
	js.Global().Call("benchMark", label).Call("then", f, f)
	<-done
}
