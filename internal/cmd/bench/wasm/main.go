//go:build js

// Command wasm is the browser half of `make bench`: run by bin/wasmbrowser
// in headless Chromium, it echoes bulk data through the relay with
// shim.StreamSocket (the WispMark method, as the native bench does) and
// prints "stream_mibps=N" on stdout.
//
// Environment (set by internal/cmd/bench): SOCKSHIM_RELAY_URL,
// SOCKSHIM_ECHO_ADDR, SOCKSHIM_BENCH_DURATION, SOCKSHIM_BENCH_STREAMS,
// SOCKSHIM_BENCH_PAYLOAD.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/sockshim/sockshim/internal/cmd/bench/internal/echoload"
	"github.com/sockshim/sockshim/shim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench wasm:", err)
		os.Exit(1)
	}
}

func run() error {
	d, err := time.ParseDuration(os.Getenv("SOCKSHIM_BENCH_DURATION"))
	if err != nil {
		return err
	}
	streams, err := strconv.Atoi(os.Getenv("SOCKSHIM_BENCH_STREAMS"))
	if err != nil {
		return err
	}
	payload, err := strconv.Atoi(os.Getenv("SOCKSHIM_BENCH_PAYLOAD"))
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
	tr := shim.RelayTransport(os.Getenv("SOCKSHIM_RELAY_URL"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conns := make([]net.Conn, 0, streams)
	for range streams {
		s := shim.NewStreamSocket(tr)
		if err := s.Connect(ctx, h, port); err != nil {
			return err
		}
		defer s.Close()
		conns = append(conns, s)
	}
	res, err := echoload.Bulk(conns, payload, d)
	if err != nil {
		return err
	}
	fmt.Printf("stream_mibps=%.1f\n", res.MiBps())
	return nil
}
