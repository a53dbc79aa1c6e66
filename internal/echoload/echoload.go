// Package echoload drives echo workloads over net.Conns: the bulk echo of
// the WispMark method, with every echoed byte verified. It is shared by the
// native bench and its browser (js/wasm) program so both measure the same
// way.
package echoload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// patternLen is the size of the random pattern that payloads are cut from;
// a prime stride over it gives each payload of a stream different bytes, so
// a lost, repeated or reordered payload fails the comparison.
const patternLen = 1 << 20

var (
	patternOnce sync.Once
	pattern     []byte
)

func payload(k int64, size int) []byte {
	patternOnce.Do(func() {
		pattern = make([]byte, patternLen+256<<10)
		rand.New(rand.NewSource(1)).Read(pattern)
	})
	off := int((k * 7919) % patternLen)
	return pattern[off : off+size]
}

// Result is what a bulk run echoed.
type Result struct {
	Bytes   int64         // payload bytes echoed back and verified
	Elapsed time.Duration // from the first write to the last byte read
}

// MiBps is the echo throughput in MiB/s.
func (r Result) MiBps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / (1 << 20) / r.Elapsed.Seconds()
}

// Bulk writes size-byte payloads on every conn for d, each conn with a
// writer and a reader running at once (the WispMark method: many streams on
// one session, each echoing as fast as it can), then drains what is still
// in flight and checks every byte. size must be at most 256 KiB. window
// bounds the payloads in flight per conn (written, not yet read back); 0
// leaves the bound to the transport's flow control (up to 16384).
func Bulk(conns []net.Conn, size, window int, d time.Duration) (Result, error) {
	if size > 256<<10 {
		return Result{}, errors.New("echoload: payload larger than 256 KiB")
	}
	var total atomic.Int64
	var stop atomic.Bool
	errs := make(chan error, len(conns))
	start := time.Now()
	for i, c := range conns {
		go func() { errs <- echoConn(c, int64(i)<<32, size, window, start.Add(d+30*time.Second), &stop, &total) }()
	}
	time.Sleep(d)
	stop.Store(true)
	var first error
	for range conns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return Result{Bytes: total.Load(), Elapsed: time.Since(start)}, first
}

func echoConn(c net.Conn, base int64, size, window int, deadline time.Time, stop *atomic.Bool, total *atomic.Int64) error {
	// One token per payload the writer starts, so the reader waits for
	// bytes only when some are on their way; closed when the writer stops.
	// The reader takes payload k's token before reading it, so with room
	// for window-1 more the writer is at most window payloads ahead.
	if window <= 0 {
		window = 1<<14 + 1
	}
	next := make(chan struct{}, window-1)
	var werr error
	go func() {
		defer close(next)
		for k := int64(0); !stop.Load(); k++ {
			next <- struct{}{}
			if _, err := c.Write(payload(base+k, size)); err != nil {
				werr = err
				return
			}
		}
	}()
	buf := make([]byte, size)
	// One deadline for the whole run, not one per payload: resetting a
	// timer per read costs the browser build a setTimeout each time the Go
	// scheduler goes idle, which the JavaScript client's workload does not
	// pay either.
	c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	for k := int64(0); ; k++ {
		if _, ok := <-next; !ok {
			if werr != nil {
				return fmt.Errorf("write: %w", werr)
			}
			return nil
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return fmt.Errorf("read after %d payloads: %w", k, err)
		}
		if !bytes.Equal(buf, payload(base+k, size)) {
			return fmt.Errorf("payload %d came back different", k)
		}
		total.Add(int64(size))
	}
}

// RoundTrips sends size bytes and reads the echo back, n times or until d
// passes, and returns the round-trip times.
func RoundTrips(c net.Conn, size, n int, d time.Duration) ([]time.Duration, error) {
	out := make([]byte, size)
	in := make([]byte, size)
	rtts := make([]time.Duration, 0, n)
	end := time.Now().Add(d)
	c.SetDeadline(end.Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	for i := 0; i < n && time.Now().Before(end); i++ {
		out[0] = byte(i)
		t0 := time.Now()
		if _, err := c.Write(out); err != nil {
			return rtts, err
		}
		if _, err := io.ReadFull(c, in); err != nil {
			return rtts, err
		}
		rtts = append(rtts, time.Since(t0))
		if in[0] != byte(i) {
			return rtts, errors.New("echo came back different")
		}
	}
	return rtts, nil
}
