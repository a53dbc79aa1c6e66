package shim

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// An RFC 6455 client over any net.Conn. The browser build needs it: the
// browser's WebSocket cannot send custom headers, credentials or client
// certificates, and coder/websocket's js build can only wrap that
// WebSocket, so such requests run over a tunnelled StreamSocket instead.
// It speaks the base protocol only (no extensions), which is all a client
// must.

// dialRFC6455 opens the connection through p's transport and performs
// the opening handshake (RFC 6455 section 4.1).
func dialRFC6455(ctx context.Context, p *wsDialParams) (*wsDialed, error) {
	uri := p.url.String()
	secure := p.url.Scheme == "wss"
	s, res, err := dialStreamSocket(ctx, p, hostPort(p.url), secure)
	if err != nil {
		return nil, handshakeError(uri, p.protocols, nil, nil, err)
	}
	count := &countConn{Conn: s}
	if !secure {
		res = nil
	}
	fail := func(resp *http.Response, body []byte, err error) (*wsDialed, error) {
		s.Close()
		return nil, handshakeError(uri, p.protocols, resp, body, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { s.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var keyBytes [16]byte
	rand.Read(keyBytes[:])
	key := base64.StdEncoding.EncodeToString(keyBytes[:])
	u := *p.url
	u.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
	req := &http.Request{Method: http.MethodGet, URL: &u, Host: u.Host, Header: p.header.Clone(), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(p.protocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(p.protocols, ", "))
	}
	bw := bufio.NewWriter(count)
	if err := req.Write(bw); err != nil {
		return fail(nil, nil, err)
	}
	if err := bw.Flush(); err != nil {
		return fail(nil, nil, err)
	}
	br := bufio.NewReader(count)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(nil, nil, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body := readBody(resp)
		return fail(resp, body, fmt.Errorf("expected handshake response status code 101 but got %d", resp.StatusCode))
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	switch {
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
		return fail(resp, nil, errors.New("WebSocket protocol violation: Upgrade header is not websocket"))
	case !strings.EqualFold(resp.Header.Get("Connection"), "upgrade"):
		return fail(resp, nil, errors.New("WebSocket protocol violation: Connection header is not Upgrade"))
	case resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		return fail(resp, nil, errors.New("WebSocket protocol violation: invalid Sec-WebSocket-Accept"))
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return fail(resp, nil, errors.New("WebSocket protocol violation: server accepted an extension we did not offer"))
	}
	proto := resp.Header.Get("Sec-WebSocket-Protocol")
	if proto != "" && !slices.Contains(p.protocols, proto) {
		return fail(resp, nil, fmt.Errorf("unexpected Sec-WebSocket-Protocol from server: %q", proto))
	}
	s.SetDeadline(time.Time{})
	c := &rfc6455Conn{conn: count, br: br, proto: proto, limit: 32768, done: make(chan struct{})}
	return &wsDialed{conn: c, count: count, res: res, local: s.Information().LocalAddress}, nil
}

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// rfc6455Conn is the client side of an open WebSocket.
type rfc6455Conn struct {
	conn  net.Conn
	br    *bufio.Reader
	proto string

	readMu sync.Mutex // one message reader at a time
	limit  int64

	writeMu sync.Mutex

	closeMu  sync.Mutex
	closeErr error // set once the connection is over
	sentCls  bool
	done     chan struct{}
}

func (c *rfc6455Conn) Subprotocol() string { return c.proto }

func (c *rfc6455Conn) SetReadLimit(n int64) {
	c.readMu.Lock()
	c.limit = n
	c.readMu.Unlock()
}

func (c *rfc6455Conn) err() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.closeErr
}

// finish ends the connection with err (the first error wins).
func (c *rfc6455Conn) finish(err error) error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closeErr == nil {
		c.closeErr = err
		c.conn.Close()
		close(c.done)
	}
	return c.closeErr
}

func (c *rfc6455Conn) writeFrame(op byte, fin bool, payload []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.err(); err != nil {
		return err
	}
	hdr := make([]byte, 2, 14)
	hdr[0] = op
	if fin {
		hdr[0] |= 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr[1] = 0x80 | byte(n)
	case n <= 0xFFFF:
		hdr[1] = 0x80 | 126
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr[1] = 0x80 | 127
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var mask [4]byte
	rand.Read(mask[:])
	hdr = append(hdr, mask[:]...)
	buf := append(hdr, payload...)
	for i := range payload {
		buf[len(hdr)+i] ^= mask[i%4]
	}
	_, err := c.conn.Write(buf)
	if err != nil {
		return c.finish(err)
	}
	return nil
}

type frameHeader struct {
	fin    bool
	op     byte
	length int64
}

func (c *rfc6455Conn) readHeader() (frameHeader, error) {
	var b [8]byte
	if _, err := io.ReadFull(c.br, b[:2]); err != nil {
		return frameHeader{}, err
	}
	h := frameHeader{fin: b[0]&0x80 != 0, op: b[0] & 0x0F, length: int64(b[1] & 0x7F)}
	if b[0]&0x70 != 0 || b[1]&0x80 != 0 {
		return h, c.protocolError("reserved bits or a masked frame from the server")
	}
	switch h.length {
	case 126:
		if _, err := io.ReadFull(c.br, b[:2]); err != nil {
			return h, err
		}
		h.length = int64(binary.BigEndian.Uint16(b[:2]))
	case 127:
		if _, err := io.ReadFull(c.br, b[:8]); err != nil {
			return h, err
		}
		h.length = int64(binary.BigEndian.Uint64(b[:8]) & (1<<63 - 1))
	}
	if h.op >= opClose && (h.length > 125 || !h.fin) {
		return h, c.protocolError("invalid control frame")
	}
	return h, nil
}

func (c *rfc6455Conn) protocolError(msg string) error {
	c.sendClose(websocket.StatusProtocolError, msg)
	return c.finish(fmt.Errorf("WebSocket protocol violation: %s", msg))
}

func (c *rfc6455Conn) sendClose(code websocket.StatusCode, reason string) error {
	c.closeMu.Lock()
	sent := c.sentCls
	c.sentCls = true
	c.closeMu.Unlock()
	if sent {
		return nil
	}
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return c.writeFrame(opClose, true, append(p, reason...))
}

// nextFrame reads frames until a data frame, answering control frames.
func (c *rfc6455Conn) nextFrame() (frameHeader, error) {
	for {
		if err := c.err(); err != nil {
			return frameHeader{}, err
		}
		h, err := c.readHeader()
		if err != nil {
			return h, c.finish(err)
		}
		if h.op < opClose {
			return h, nil
		}
		payload := make([]byte, h.length)
		if _, err := io.ReadFull(c.br, payload); err != nil {
			return h, c.finish(err)
		}
		switch h.op {
		case opPing:
			c.writeFrame(opPong, true, payload)
		case opPong:
		case opClose:
			ce := websocket.CloseError{Code: websocket.StatusNoStatusRcvd}
			if len(payload) >= 2 {
				ce = websocket.CloseError{Code: websocket.StatusCode(binary.BigEndian.Uint16(payload)), Reason: string(payload[2:])}
			}
			echo := ce.Code
			if echo == websocket.StatusNoStatusRcvd {
				echo = websocket.StatusNormalClosure
			}
			c.sendClose(echo, "")
			return h, c.finish(ce)
		default:
			return h, c.protocolError(fmt.Sprintf("unknown opcode %#x", h.op))
		}
	}
}

// Reader returns the next message.
func (c *rfc6455Conn) Reader(ctx context.Context) (websocket.MessageType, io.Reader, error) {
	c.readMu.Lock()
	stop := context.AfterFunc(ctx, func() { c.finish(ctx.Err()) })
	h, err := c.nextFrame()
	stop()
	if err != nil {
		c.readMu.Unlock()
		return 0, nil, err
	}
	if h.op == opContinuation {
		c.readMu.Unlock()
		return 0, nil, c.protocolError("continuation frame without a message")
	}
	typ := websocket.MessageBinary
	if h.op == opText {
		typ = websocket.MessageText
	}
	return typ, &rfc6455Reader{c: c, h: h, limit: c.limit}, nil
}

// rfc6455Reader reads one message, holding readMu until its end.
type rfc6455Reader struct {
	c     *rfc6455Conn
	h     frameHeader
	total int64
	limit int64
	eof   bool
}

func (r *rfc6455Reader) Read(p []byte) (int, error) {
	if r.eof {
		return 0, io.EOF
	}
	for r.h.length == 0 {
		if r.h.fin {
			r.eof = true
			r.c.readMu.Unlock()
			return 0, io.EOF
		}
		h, err := r.c.nextFrame()
		if err == nil && h.op != opContinuation {
			err = r.c.protocolError("new message before the previous one ended")
		}
		if err != nil {
			r.eof = true
			r.c.readMu.Unlock()
			return 0, err
		}
		r.h = h
	}
	if r.limit >= 0 && r.total+r.h.length > r.limit {
		r.eof = true
		r.c.readMu.Unlock()
		r.c.sendClose(websocket.StatusMessageTooBig, "")
		return 0, r.c.finish(fmt.Errorf("read limited at %d bytes", r.limit))
	}
	if int64(len(p)) > r.h.length {
		p = p[:r.h.length]
	}
	n, err := r.c.br.Read(p)
	r.h.length -= int64(n)
	r.total += int64(n)
	if err != nil {
		r.eof = true
		r.c.readMu.Unlock()
		return n, r.c.finish(err)
	}
	if r.h.length == 0 && r.h.fin {
		// Free the connection as soon as the message is consumed, so a
		// Close need not wait for a reader that will never come back.
		r.eof = true
		r.c.readMu.Unlock()
	}
	return n, nil
}

// Writer returns a writer for one message: each Write is a frame, Close
// ends the message.
func (c *rfc6455Conn) Writer(ctx context.Context, typ websocket.MessageType) (io.WriteCloser, error) {
	if err := c.err(); err != nil {
		return nil, err
	}
	op := byte(opBinary)
	if typ == websocket.MessageText {
		op = opText
	}
	return &rfc6455Writer{c: c, op: op}, nil
}

type rfc6455Writer struct {
	c      *rfc6455Conn
	op     byte
	closed bool
}

func (w *rfc6455Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, net.ErrClosed
	}
	if err := w.c.writeFrame(w.op, false, p); err != nil {
		return 0, err
	}
	w.op = opContinuation
	return len(p), nil
}

func (w *rfc6455Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.c.writeFrame(w.op, true, nil)
}

// Close sends a close frame and waits up to 5 s for the server's, then
// closes the connection.
func (c *rfc6455Conn) Close(code websocket.StatusCode, reason string) error {
	if err := c.sendClose(code, reason); err != nil {
		return err
	}
	if c.readMu.TryLock() {
		// Nobody is reading: read until the server's close frame.
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			h, err := c.nextFrame()
			if err != nil {
				break
			}
			io.CopyN(io.Discard, c.br, h.length)
		}
		c.readMu.Unlock()
	} else {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
		}
	}
	c.finish(net.ErrClosed)
	return nil
}

// CloseNow closes the connection without a close handshake.
func (c *rfc6455Conn) CloseNow() error {
	c.finish(net.ErrClosed)
	return nil
}
