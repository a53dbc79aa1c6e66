//go:build !js

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockshim/sockshim/internal/echoload"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// target is one column of the table: the same client code (net.Conn from
// net.Dial, or a wispclient stream) against direct TCP or a Wisp server.
type target struct {
	name string
	srv  *server // nil: direct TCP
	echo *echoServer
	// resume: wispclient's session resume as is (on when the server
	// offers it), or "off" (resume.go's comparison), or "on", which
	// fails the session when the server does not offer it.
	resume string
}

// session opens a Wisp session to the target's server.
func (t *target) session(ctx context.Context) (*wispclient.Session, error) {
	o := &wispclient.Options{Resume: wispclient.ResumeOptions{Disabled: t.resume == "off"}}
	s, err := wispclient.Dial(ctx, t.srv.url, o)
	if err == nil && t.resume == "on" && !s.Extension(wisp.ExtResume) {
		s.Close()
		return nil, errors.New("the relay does not offer session resume")
	}
	return s, err
}

// dialer returns a function opening connections to the echo server, and a
// cleanup. For Wisp servers all connections are streams of one session.
// confirmed says whether a returned connection is known to be established
// (net.Dial, or a server that sends OPENED); otherwise callers that need it
// established echo a byte first.
func (t *target) dialer(ctx context.Context) (dial func(context.Context) (net.Conn, error), confirmed bool, cleanup func(), err error) {
	port := t.echo.port()
	if t.srv == nil {
		var d net.Dialer
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }, true, func() {}, nil
	}
	sess, err := t.session(ctx)
	if err != nil {
		return nil, false, nil, err
	}
	dial = func(ctx context.Context) (net.Conn, error) {
		return sess.Open(ctx, wisp.StreamTCP, "127.0.0.1", port)
	}
	return dial, sess.Extension(wisp.ExtSockshim), func() { sess.Close() }, nil
}

type bulkResult struct {
	mibps     float64
	cpuPerGiB float64 // server process CPU seconds per GiB echoed; NaN when unknown
	// clientCPUPerGiB: this process's (the client's and the echo
	// server's) CPU seconds per GiB echoed.
	clientCPUPerGiB float64
}

// bulk runs the WispMark echo: streams connections on one session, payload
// bytes each, for d.
func bulk(t *target, streams, payload int, d time.Duration) (bulkResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial, _, cleanup, err := t.dialer(ctx)
	if err != nil {
		return bulkResult{}, err
	}
	defer cleanup()
	conns := make([]net.Conn, 0, streams)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range streams {
		c, err := dial(ctx)
		if err != nil {
			return bulkResult{}, err
		}
		conns = append(conns, c)
	}
	// Direct TCP has no server process: this process's CPU (client and echo
	// server) is the reference, as it makes the same four socket copies per
	// byte echoed as the relay (read and write on each of two connections).
	pid := os.Getpid()
	if t.srv != nil {
		pid = t.srv.pid
	}
	cpu0, self0 := nanCPU(pid), nanCPU(os.Getpid())
	res, err := echoload.Bulk(conns, payload, 0, d)
	cpu1, self1 := nanCPU(pid), nanCPU(os.Getpid())
	if err != nil {
		return bulkResult{}, err
	}
	gib := float64(res.Bytes) / (1 << 30)
	return bulkResult{mibps: res.MiBps(), cpuPerGiB: (cpu1 - cpu0) / gib, clientCPUPerGiB: (self1 - self0) / gib}, nil
}

func nanCPU(pid int) float64 {
	if pid == 0 {
		return nan
	}
	s, err := cpuSeconds(pid)
	if err != nil {
		return nan
	}
	return s
}

// rtt measures 64-byte round trips on one connection.
func rtt(t *target, size int, d time.Duration) (p50, p99 time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial, _, cleanup, err := t.dialer(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer cleanup()
	c, err := dial(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	if _, err := echoload.RoundTrips(c, size, 500, time.Minute); err != nil { // warm up
		return 0, 0, err
	}
	rtts, err := echoload.RoundTrips(c, size, 100000, d)
	if err != nil {
		return 0, 0, err
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2], rtts[len(rtts)*99/100], nil
}

// establish makes sure a connection reached the destination: when the
// server does not confirm connects (no OPENED), one byte is echoed.
func establish(c net.Conn, confirmed bool) error {
	if confirmed {
		return nil
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	var b [1]byte
	_, err := io.ReadFull(c, b[:])
	return err
}

// opens counts connections opened (until established) and closed per
// second, workers at a time, on one session.
func opens(t *target, workers int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	dial, confirmed, cleanup, err := t.dialer(ctx)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				c, err := dial(ctx)
				if err == nil {
					err = establish(c, confirmed)
					c.Close()
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), firstErr
}

// idle opens count streams on one session, echoes a byte on each, and
// returns the server's RSS growth per stream.
func idle(t *target, count, workers int) (perStream float64, err error) {
	if t.srv == nil || t.srv.pid == 0 {
		return nan, errors.New("no server process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dial, _, cleanup, err := t.dialer(ctx)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	time.Sleep(500 * time.Millisecond)
	before, err := rssBytes(t.srv.pid)
	if err != nil {
		return 0, err
	}
	conns := make([]net.Conn, count)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var next atomic.Int64
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(count) {
					errs <- nil
					return
				}
				c, err := dial(ctx)
				if err == nil {
					conns[i] = c
					err = establish(c, false)
				}
				if err != nil {
					errs <- fmt.Errorf("stream %d: %w", i, err)
					return
				}
			}
		}()
	}
	for range workers {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		return 0, err
	}
	time.Sleep(time.Second)
	after, err := rssBytes(t.srv.pid)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(count), nil
}
