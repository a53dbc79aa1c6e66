//go:build js

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"syscall/js"
	"time"

	"github.com/sockshim/sockshim/relay"
)

// connect is the Workers runtime's cloudflare:sockets connect(), as the
// syumai/workers runtime hands it to Go (its runtime context's "connect").
// cloudflare/sockets.Connect wraps the same function, but its Socket cannot
// wait for "opened" (a refused connect shows only on the first read, after
// the relay told the client it was open), loses data when a read times out,
// and reports no addresses; socket is what the relay needs instead.
func connectFunc() js.Value { return js.Global().Get("context").Get("connect") }

// socket is a TCP connection from connect() as a net.Conn.
type socket struct {
	sock           js.Value
	reader, writer js.Value
	local, remote  addr
	done           chan struct{}
	closeOnce      sync.Once

	rmu      sync.Mutex // one Read at a time
	readOnce sync.Once
	chunks   chan readResult // from readAhead
	rest     []byte          // of the last chunk, not yet returned
	final    error           // io.EOF or the read error, returned by every later Read

	dmu                         sync.Mutex
	readDeadline, writeDeadline time.Time

	wmu sync.Mutex
}

type readResult struct {
	chunk []byte
	eof   bool
	err   error
}

// dialSocket connects to host:port and waits until the connection is open
// or failed; tls asks the runtime for TLS (secureTransport "on").
func dialSocket(ctx context.Context, host string, port uint16, tls bool) (net.Conn, error) {
	address := object.New()
	address.Set("hostname", host)
	address.Set("port", int(port))
	opts := object.New()
	opts.Set("allowHalfOpen", true)
	if tls {
		opts.Set("secureTransport", "on")
	} else {
		opts.Set("secureTransport", "off")
	}
	var sock js.Value
	if err := try(func() { sock = connectFunc().Invoke(address, opts) }); err != nil {
		return nil, mapSocketError(err)
	}
	s := &socket{sock: sock, done: make(chan struct{}), chunks: make(chan readResult, readAheadDepth)}
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-stop:
		}
	}()
	info, err := await(sock.Get("opened"), s.done)
	close(stop)
	if err != nil {
		s.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		err = mapSocketError(err)
		if tls && errors.Is(err, syscall.ECONNREFUSED) && tcpOpens(ctx, host, port) {
			// workerd fails a TLS handshake with the same message as a
			// refused connect; TCP that opens means it was the TLS.
			return nil, fmt.Errorf("%w: TCP to the destination opens, TLS does not (%v)", relay.ErrTLSFailed, err)
		}
		return nil, err
	}
	s.remote = parseAddr(info.Get("remoteAddress"), host, port)
	s.local = parseAddr(info.Get("localAddress"), "", 0)
	s.reader = sock.Get("readable").Call("getReader")
	s.writer = sock.Get("writable").Call("getWriter")
	return s, nil
}

// tcpOpens reports whether a plain TCP connection to host:port opens; it
// closes it at once. It tells a relay-TLS stream's failed handshake from a
// refused connection (one more connection, only when one failed).
func tcpOpens(ctx context.Context, host string, port uint16) bool {
	c, err := dialSocket(ctx, host, port, false)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (s *socket) Read(b []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if len(s.rest) > 0 {
		n := copy(b, s.rest)
		s.rest = s.rest[n:]
		return n, nil
	}
	if s.final != nil {
		return 0, s.final
	}
	s.readOnce.Do(func() { go s.readAhead() })
	timeout, stop := s.timer(&s.readDeadline)
	defer stop()
	// A Read ended by its deadline leaves the chunks queued: none is lost.
	select {
	case r := <-s.chunks:
		switch {
		case r.err != nil:
			s.final = r.err
			return 0, r.err
		case r.eof:
			s.final = io.EOF
			return 0, io.EOF
		}
		n := copy(b, r.chunk)
		s.rest = r.chunk[n:]
		return n, nil
	case <-s.done:
		s.final = net.ErrClosed
		return 0, net.ErrClosed
	case <-timeout:
		return 0, os.ErrDeadlineExceeded
	}
}

// readAhead keeps a read() pending on the stream while the relay handles
// the chunk before, so the runtime can fill it meanwhile: workerd hands out
// about 4 KiB per read, and issuing each read only when Go asked for it
// took one stream from 0.9 to 1.5 MiB/s. workerd fails a second pending
// read on a socket, hence one. Chunks wait in s.chunks (bounded: the
// stream is read no faster than the relay takes them).
func (s *socket) readAhead() {
	var fifo []js.Value
	for len(fifo) < readAheadDepth {
		fifo = append(fifo, s.reader.Call("read"))
	}
	for {
		v, err := await(fifo[0], s.done)
		fifo = fifo[1:]
		var r readResult
		switch {
		case errors.Is(err, errCanceled):
			r = readResult{err: net.ErrClosed}
		case err != nil:
			r = readResult{err: mapSocketError(err)}
		case v.Get("done").Bool():
			r = readResult{eof: true}
		default:
			r = readResult{chunk: bytesFromJS(v.Get("value"))}
			fifo = append(fifo, s.reader.Call("read"))
		}
		select {
		case s.chunks <- r:
		case <-s.done:
			return
		}
		if r.chunk == nil {
			return
		}
	}
}

// readAheadDepth is how many read() calls stay pending (workerd: at most 1).
const readAheadDepth = 1

// timer returns a channel that fires at the deadline (nil: never).
func (s *socket) timer(d *time.Time) (<-chan time.Time, func()) {
	s.dmu.Lock()
	t := *d
	s.dmu.Unlock()
	if t.IsZero() {
		return nil, func() {}
	}
	tm := time.NewTimer(time.Until(t))
	return tm.C, func() { tm.Stop() }
}

func (s *socket) Write(b []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	select {
	case <-s.done:
		return 0, net.ErrClosed
	default:
	}
	var p js.Value
	if err := try(func() { p = s.writer.Call("write", bytesToJS(b)) }); err != nil {
		return 0, mapSocketError(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := await(p, s.done)
		res <- err
	}()
	timeout, stop := s.timer(&s.writeDeadline)
	defer stop()
	select {
	case err := <-res:
		if errors.Is(err, errCanceled) {
			return 0, net.ErrClosed
		}
		if err != nil {
			return 0, mapSocketError(err)
		}
		return len(b), nil
	case <-timeout:
		return 0, os.ErrDeadlineExceeded
	}
}

// CloseWrite ends the write side (TCP FIN); reading goes on (allowHalfOpen).
func (s *socket) CloseWrite() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var p js.Value
	if err := try(func() { p = s.writer.Call("close") }); err != nil {
		return mapSocketError(err)
	}
	_, err := await(p, s.done)
	if err != nil && !errors.Is(err, errCanceled) {
		return mapSocketError(err)
	}
	return nil
}

func (s *socket) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		try(func() { s.sock.Call("close") })
	})
	return nil
}

func (s *socket) LocalAddr() net.Addr  { return s.local }
func (s *socket) RemoteAddr() net.Addr { return s.remote }

func (s *socket) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

func (s *socket) SetReadDeadline(t time.Time) error {
	s.dmu.Lock()
	s.readDeadline = t
	s.dmu.Unlock()
	return nil
}

func (s *socket) SetWriteDeadline(t time.Time) error {
	s.dmu.Lock()
	s.writeDeadline = t
	s.dmu.Unlock()
	return nil
}

// addr is an endpoint as the runtime reports it ("host:port"); it is a
// *net.TCPAddr's string form when the host is an IP literal.
type addr struct{ s string }

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return a.s }

func parseAddr(v js.Value, host string, port uint16) addr {
	if v.Type() == js.TypeString && v.String() != "" {
		return addr{v.String()}
	}
	if host == "" {
		return addr{""}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return addr{netip.AddrPortFrom(ip, port).String()}
	}
	return addr{net.JoinHostPort(host, strconv.Itoa(int(port)))}
}
