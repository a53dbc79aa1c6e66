//go:build !js

package cork_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/cork"
)

// countConn counts the writes that reach the real connection.
type countConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// readNothing asserts that nothing arrives on c for a short while.
func readNothing(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	if n, err := c.Read(b[:]); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d bytes (%v) while corked", n, err)
	}
	c.SetReadDeadline(time.Time{})
}

func TestUncorkedWritesGoOutAtOnce(t *testing.T) {
	a, b := tcpPair(t)
	c := cork.New(a)
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestCorkHoldsUntilLastUncork(t *testing.T) {
	a, b := tcpPair(t)
	cc := &countConn{Conn: a}
	c := cork.New(cc)
	c.Cork()
	c.Cork()
	for _, s := range []string{"one ", "two ", "three"} {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	readNothing(t, b) // one cork is still held
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("one two three"))
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "one two three" {
		t.Fatalf("got %q, %v", got, err)
	}
	if n := cc.writes.Load(); n != 1 {
		t.Fatalf("%d writes reached the socket, want 1", n)
	}
}

// TestGroupCommit: writers that overlap share syscalls, and every record
// arrives whole and in each writer's order.
func TestGroupCommit(t *testing.T) {
	a, b := tcpPair(t)
	cc := &countConn{Conn: a}
	c := cork.New(cc)
	const writers, records, size = 8, 200, 1000
	c.Cork() // held until every writer has started, so some writes overlap
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := make([]byte, size)
			for i := range records {
				binary.BigEndian.PutUint32(rec[0:], uint32(w))
				binary.BigEndian.PutUint32(rec[4:], uint32(i))
				for j := 8; j < size; j++ {
					rec[j] = byte(w + i + j)
				}
				c.Cork()
				_, err := c.Write(rec)
				if uerr := c.Uncork(); err == nil {
					err = uerr
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		next := make([]uint32, writers)
		rec := make([]byte, size)
		b.SetReadDeadline(time.Now().Add(20 * time.Second))
		for range writers * records {
			if _, err := io.ReadFull(b, rec); err != nil {
				done <- err
				return
			}
			w, i := binary.BigEndian.Uint32(rec[0:]), binary.BigEndian.Uint32(rec[4:])
			if w >= writers || i != next[w] {
				done <- errors.New("record out of order or torn")
				return
			}
			for j := 8; j < size; j++ {
				if rec[j] != byte(int(w)+int(i)+j) {
					done <- errors.New("record corrupted")
					return
				}
			}
			next[w]++
		}
		done <- nil
	}()
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := cc.writes.Load(); n >= writers*records {
		t.Fatalf("%d syscalls for %d overlapping writes: nothing was coalesced", n, writers*records)
	}
}

func TestMaxBufferFlushesWhileCorked(t *testing.T) {
	a, b := tcpPair(t)
	c := cork.New(a)
	c.Cork()
	big := bytes.Repeat([]byte{7}, cork.MaxBuffer)
	go c.Write(big) // the flush may block until the peer reads
	got := make([]byte, cork.MaxBuffer)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(b, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("a full buffer was not written while corked: %v", err)
	}
	c.Uncork()
}

func TestWriteErrorSticks(t *testing.T) {
	a, b := tcpPair(t)
	c := cork.New(a)
	a.Close()
	b.Close()
	c.Cork()
	c.Write([]byte("lost"))
	err := c.Uncork()
	if err == nil {
		t.Fatal("Uncork on a closed connection returned nil")
	}
	if _, err2 := c.Write([]byte("x")); !errors.Is(err2, err) {
		t.Fatalf("later write: %v, want the first error %v", err2, err)
	}
}

// TestOpenReleasesHeldWritesForGood: Open writes what a cork holds and lets
// every later write through at once, though the cork is still held (its
// holder may be blocked until the connection closes).
func TestOpenReleasesHeldWritesForGood(t *testing.T) {
	a, b := tcpPair(t)
	c := cork.New(a)
	c.Cork() // never uncorked: a writer blocked for good
	c.Write([]byte("held "))
	readNothing(t, b)
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("close"))
	got := make([]byte, 10)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "held close" {
		t.Fatalf("got %q, %v", got, err)
	}
}
