//go:build !js

package shim_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/shim"
)

// events collects a transport's session events.
type events chan shim.SessionEvent

func (ev events) next(t *testing.T, want shim.SessionStatus) shim.SessionEvent {
	t.Helper()
	select {
	case e := <-ev:
		if e.Status != want {
			t.Fatalf("session event %v, want %v", e, want)
		}
		return e
	case <-time.After(30 * time.Second):
		t.Fatalf("no session event (want %v)", want)
	}
	panic("unreachable")
}

func echoRound(t *testing.T, s *shim.StreamSocket, msg string) {
	t.Helper()
	s.SetDeadline(time.Now().Add(30 * time.Second))
	defer s.SetDeadline(time.Time{})
	if _, err := io.WriteString(s, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

// TestRelaySessionEvents: an app hears Connected, then Reconnecting (with
// why) and Resumed across a reset WebSocket while its socket goes on; with
// resume disabled it hears Lost (with the sockets' status), a new Connect
// brings Connected, and Close brings Closed.
func TestRelaySessionEvents(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	wispURL, _ := testutil.Relay(t, nil)
	p, url := testutil.NewProxy(t, wispURL)

	t.Run("resume", func(t *testing.T) {
		ev := make(events, 16)
		tr := shim.RelayTransport(url, &shim.RelayOptions{OnStatus: func(e shim.SessionEvent) { ev <- e }})
		defer tr.Close()
		if tr.Status() != shim.SessionStatusUnknown {
			t.Errorf("Status before any socket: %v", tr.Status())
		}
		s := echoSocket(t, tr, echo)
		ev.next(t, shim.SessionConnected)
		for i := range 2 {
			p.Reset()
			e := ev.next(t, shim.SessionReconnecting)
			if shim.GetStatus(e.Err) != shim.SocketErrorConnectionResetByPeer {
				t.Errorf("Reconnecting's cause %v: status %v", e.Err, shim.GetStatus(e.Err))
			}
			ev.next(t, shim.SessionResumed)
			if tr.Status() != shim.SessionResumed {
				t.Errorf("Status after a resume: %v", tr.Status())
			}
			echoRound(t, s, "after resume "+strconv.Itoa(i))
		}
		tr.Close()
		e := ev.next(t, shim.SessionClosed)
		if !errors.Is(e.Err, net.ErrClosed) || shim.GetStatus(e.Err) != shim.SocketErrorOperationAborted {
			t.Errorf("Closed's cause %v (status %v)", e.Err, shim.GetStatus(e.Err))
		}
		tr.Close() // idempotent, no second event
		select {
		case e := <-ev:
			t.Errorf("event after Closed: %v", e)
		case <-time.After(200 * time.Millisecond):
		}
	})

	t.Run("disabled", func(t *testing.T) {
		ev := make(events, 16)
		tr := shim.RelayTransport(url, &shim.RelayOptions{
			Resume:   &shim.ResumeOptions{Disabled: true},
			OnStatus: func(e shim.SessionEvent) { ev <- e },
		})
		defer tr.Close()
		s := echoSocket(t, tr, echo)
		ev.next(t, shim.SessionConnected)
		p.Reset()
		e := ev.next(t, shim.SessionLost)
		if shim.GetStatus(e.Err) != shim.SocketErrorConnectionResetByPeer {
			t.Errorf("Lost's cause %v: status %v", e.Err, shim.GetStatus(e.Err))
		}
		s.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := s.Read(make([]byte, 1)); shim.GetStatus(err) != shim.SocketErrorConnectionResetByPeer {
			t.Errorf("Read on the lost session: %v (status %v)", err, shim.GetStatus(err))
		}
		echoSocket(t, tr, echo)
		ev.next(t, shim.SessionConnected)
	})
}

// TestRelayReplayBufferBound: while the relay acknowledges nothing (its
// WebSocket is blackholed), a socket's writes take at most
// ResumeOptions.ReplayBuffer bytes, then block: backpressure, never more
// memory, and the blocked Write still ends at its deadline. The default
// bound takes more.
func TestRelayReplayBufferBound(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	wispURL, _ := testutil.Relay(t, nil)
	const bound = 256 << 10
	accepted := func(opts *shim.ResumeOptions) int {
		p, url := testutil.NewProxy(t, wispURL)
		tr := shim.RelayTransport(url, &shim.RelayOptions{Resume: opts, PeerTimeout: -1})
		defer tr.Close()
		s := echoSocket(t, tr, echo)
		p.Blackhole()
		chunk := bytes.Repeat([]byte("x"), 16<<10)
		n := 0
		for n < 8*bound {
			s.SetWriteDeadline(time.Now().Add(2 * time.Second))
			start := time.Now()
			m, err := s.Write(chunk)
			n += m
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("a Write with a 2 s deadline took %v (the replay buffer was full)", took)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatalf("Write after %d bytes: %v", n, err)
			}
		}
		start := time.Now()
		tr.Close()
		t.Logf("Close took %v", time.Since(start))
		return n
	}
	if n := accepted(&shim.ResumeOptions{ReplayBuffer: bound}); n > bound || n < bound/4 {
		t.Errorf("ReplayBuffer %d: writes took %d bytes before blocking", bound, n)
	} else {
		t.Logf("ReplayBuffer %d: writes took %d bytes before blocking", bound, n)
	}
	start := time.Now()
	if n := accepted(nil); n <= bound {
		t.Errorf("default ReplayBuffer: writes took only %d bytes before blocking", n)
	} else {
		t.Logf("default ReplayBuffer: writes took %d bytes before blocking (%v)", n, time.Since(start))
	}
}

// sessionGoroutines are the client session's goroutines (and the resume
// layer's on either side) still running.
func sessionGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "internal/wispclient.") || strings.Contains(g, "internal/resume.(*Conn)") ||
			strings.Contains(g, "shim.(*relayStatus).deliver") {
			left = append(left, g)
		}
	}
	return left
}

// TestRelayTransportClose: Close ends the session while the relay still
// runs: its sockets, listener and datagram socket fail with
// OperationAborted (errors.Is net.ErrClosed), so do later Connects, and
// every goroutine of the session is gone. Not parallel: it counts the
// process's goroutines.
func TestRelayTransportClose(t *testing.T) {
	echo := testutil.EchoServer(t)
	udp := testutil.UDPEchoServer(t)
	wispURL, _ := testutil.Relay(t, nil)
	if left := sessionGoroutines(); len(left) > 0 {
		t.Fatalf("session goroutines before the test:\n%s", strings.Join(left, "\n\n"))
	}
	ev := make(events, 16)
	tr := shim.RelayTransport(wispURL, &shim.RelayOptions{OnStatus: func(e shim.SessionEvent) { ev <- e }})
	a, b := echoSocket(t, tr, echo), echoSocket(t, tr, echo)
	l := shim.NewStreamSocketListener(tr)
	if err := l.BindEndpoint(ctxT(t), host(t, "127.0.0.1"), ""); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := shim.NewDatagramSocket(tr)
	defer d.Close()
	if err := d.Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(udp.Port)); err != nil {
		t.Fatal(err)
	}
	ev.next(t, shim.SessionConnected)

	readErr := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1)) // blocked in Read when Close comes
		readErr <- err
	}()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	ev.next(t, shim.SessionClosed)
	if tr.Status() != shim.SessionClosed {
		t.Errorf("Status after Close: %v", tr.Status())
	}
	aborted := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, net.ErrClosed) || shim.GetStatus(err) != shim.SocketErrorOperationAborted ||
			!strings.Contains(err.Error(), "relay transport was closed") {
			t.Errorf("%s after Close: %v (status %v)", what, err, shim.GetStatus(err))
		}
	}
	select {
	case err := <-readErr:
		aborted("a blocked Read", err)
	case <-time.After(20 * time.Second):
		t.Fatal("a blocked Read did not end at Close")
	}
	_, err := b.Write([]byte("x"))
	aborted("Write", err)
	aborted("Connect", shim.NewStreamSocket(tr).Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(echo.Port)))

	deadline := time.Now().Add(20 * time.Second)
	for left := sessionGoroutines(); len(left) > 0; left = sessionGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("%d session goroutines left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRelayTransportCloseCancelsDial: Close ends a Connect waiting for a
// relay that accepted the TCP connection but never answers.
func TestRelayTransportCloseCancelsDial(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	tr := shim.RelayTransport("ws://"+ln.Addr().String()+"/wisp/", nil)
	done := make(chan error, 1)
	go func() {
		done <- shim.NewStreamSocket(tr).Connect(ctxT(t), host(t, "127.0.0.1"), "7")
	}()
	time.Sleep(100 * time.Millisecond) // usually in the handshake by now; either way Connect must fail
	tr.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) || shim.GetStatus(err) != shim.SocketErrorOperationAborted {
			t.Errorf("Connect: %v (status %v)", err, shim.GetStatus(err))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Connect went on after Close (the handshake timeout is 10 s)")
	}
}
