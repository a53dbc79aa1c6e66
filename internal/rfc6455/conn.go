package rfc6455

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
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Handshake performs the opening handshake (RFC 6455 section 4.1) for u
// over conn, offering protocols, with header's fields added to the
// request. The caller bounds it with conn's deadlines. On a refusal it
// returns the server's response and up to 64 KiB of its body; on success
// the returned Conn owns conn.
func Handshake(conn net.Conn, u *url.URL, header http.Header, protocols []string) (*Conn, *http.Response, []byte, error) {
	var keyBytes [16]byte
	rand.Read(keyBytes[:])
	key := base64.StdEncoding.EncodeToString(keyBytes[:])
	hu := *u
	hu.Scheme = strings.Replace(hu.Scheme, "ws", "http", 1)
	req := &http.Request{Method: http.MethodGet, URL: &hu, Host: hu.Host, Header: header.Clone(), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(protocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(protocols, ", "))
	}
	bw := bufio.NewWriter(conn)
	if err := req.Write(bw); err != nil {
		return nil, nil, nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, resp, body, fmt.Errorf("expected handshake response status code 101 but got %d", resp.StatusCode)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	switch {
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
		return nil, resp, nil, errors.New("WebSocket protocol violation: Upgrade header is not websocket")
	case !strings.EqualFold(resp.Header.Get("Connection"), "upgrade"):
		return nil, resp, nil, errors.New("WebSocket protocol violation: Connection header is not Upgrade")
	case resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		return nil, resp, nil, errors.New("WebSocket protocol violation: invalid Sec-WebSocket-Accept")
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return nil, resp, nil, errors.New("WebSocket protocol violation: server accepted an extension we did not offer")
	}
	proto := resp.Header.Get("Sec-WebSocket-Protocol")
	if proto != "" && !slices.Contains(protocols, proto) {
		return nil, resp, nil, fmt.Errorf("unexpected Sec-WebSocket-Protocol from server: %q", proto)
	}
	return newConn(conn, br, proto), resp, nil, nil
}

func newConn(conn net.Conn, br *bufio.Reader, proto string) *Conn {
	return &Conn{conn: conn, br: br, proto: proto, limit: 32768, done: make(chan struct{})}
}

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// Conn is the client side of an open WebSocket. Its methods mirror
// coder/websocket's *Conn (Reader, Writer, Close, CloseNow, Subprotocol,
// SetReadLimit), with its types.
type Conn struct {
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

func (c *Conn) Subprotocol() string { return c.proto }

func (c *Conn) SetReadLimit(n int64) {
	c.readMu.Lock()
	c.limit = n
	c.readMu.Unlock()
}

func (c *Conn) err() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.closeErr
}

// finish ends the connection with err (the first error wins).
func (c *Conn) finish(err error) error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closeErr == nil {
		c.closeErr = err
		c.conn.Close()
		close(c.done)
	}
	return c.closeErr
}

func (c *Conn) writeFrame(op byte, fin bool, payload []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.err(); err != nil {
		return err
	}
	h := frameHeader{fin: fin, op: op, masked: true, length: int64(len(payload))}
	rand.Read(h.mask[:])
	buf := appendFrameHeader(make([]byte, 0, maxHeaderLen+len(payload)), h)
	hl := len(buf)
	buf = append(buf, payload...)
	for i := range payload {
		buf[hl+i] ^= h.mask[i%4]
	}
	_, err := c.conn.Write(buf)
	if err != nil {
		return c.finish(err)
	}
	return nil
}

// frameHeader is the fixed part of a frame (RFC 6455 section 5.2):
//
//	+-+-+-+-+-------+-+-------------+-------------------------------+
//	|F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//	|I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//	|N|V|V|V|       |S|             |   (if payload len==126/127)   |
//	| |1|2|3|       |K|             |                               |
//	+-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//	|     Extended payload length continued, if payload len == 127  |
//	+ - - - - - - - - - - - - - - - +-------------------------------+
//	|                               | Masking-key, if MASK set to 1 |
//	+-------------------------------+-------------------------------+
type frameHeader struct {
	fin    bool
	op     byte
	masked bool // client frames only
	length int64
	mask   [4]byte
}

// maxHeaderLen is the longest frame header: 2 + 8 length bytes + 4 mask.
const maxHeaderLen = 14

// errProtocol is wrapped by frames a server may not send; the connection
// is then closed with 1002.
var errProtocol = errors.New("WebSocket protocol violation")

// readFrameHeader reads one server frame header. Reserved bits, a mask,
// a 64-bit length with the top bit set, and control frames that are
// fragmented or over 125 bytes are errors wrapping errProtocol; a short
// read is io.EOF or io.ErrUnexpectedEOF.
func readFrameHeader(r io.Reader) (frameHeader, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return frameHeader{}, err
	}
	h := frameHeader{fin: b[0]&0x80 != 0, op: b[0] & 0x0F, length: int64(b[1] & 0x7F)}
	if b[0]&0x70 != 0 || b[1]&0x80 != 0 {
		return h, fmt.Errorf("%w: reserved bits or a masked frame from the server", errProtocol)
	}
	switch h.length {
	case 126:
		if _, err := io.ReadFull(r, b[:2]); err != nil {
			return h, noEOF(err)
		}
		h.length = int64(binary.BigEndian.Uint16(b[:2]))
	case 127:
		if _, err := io.ReadFull(r, b[:8]); err != nil {
			return h, noEOF(err)
		}
		n := binary.BigEndian.Uint64(b[:8])
		if n>>63 != 0 {
			return h, fmt.Errorf("%w: 64-bit payload length with the top bit set", errProtocol)
		}
		h.length = int64(n)
	}
	if h.op >= opClose && (h.length > 125 || !h.fin) {
		return h, fmt.Errorf("%w: invalid control frame", errProtocol)
	}
	return h, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendFrameHeader encodes h with the shortest length encoding.
func appendFrameHeader(dst []byte, h frameHeader) []byte {
	b0 := h.op & 0x0F
	if h.fin {
		b0 |= 0x80
	}
	var m byte
	if h.masked {
		m = 0x80
	}
	switch n := h.length; {
	case n < 126:
		dst = append(dst, b0, m|byte(n))
	case n <= 0xFFFF:
		dst = binary.BigEndian.AppendUint16(append(dst, b0, m|126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, b0, m|127), uint64(n))
	}
	if h.masked {
		dst = append(dst, h.mask[:]...)
	}
	return dst
}

func (c *Conn) readHeader() (frameHeader, error) {
	h, err := readFrameHeader(c.br)
	if errors.Is(err, errProtocol) {
		c.sendClose(websocket.StatusProtocolError, strings.TrimPrefix(err.Error(), errProtocol.Error()+": "))
		return h, c.finish(err)
	}
	return h, err
}

func (c *Conn) protocolError(msg string) error {
	c.sendClose(websocket.StatusProtocolError, msg)
	return c.finish(fmt.Errorf("%w: %s", errProtocol, msg))
}

func (c *Conn) sendClose(code websocket.StatusCode, reason string) error {
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
func (c *Conn) nextFrame() (frameHeader, error) {
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
func (c *Conn) Reader(ctx context.Context) (websocket.MessageType, io.Reader, error) {
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
	return typ, &messageReader{c: c, h: h, limit: c.limit}, nil
}

// messageReader reads one message, holding readMu until its end.
type messageReader struct {
	c     *Conn
	h     frameHeader
	total int64
	limit int64
	eof   bool
}

func (r *messageReader) Read(p []byte) (int, error) {
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
func (c *Conn) Writer(ctx context.Context, typ websocket.MessageType) (io.WriteCloser, error) {
	if err := c.err(); err != nil {
		return nil, err
	}
	op := byte(opBinary)
	if typ == websocket.MessageText {
		op = opText
	}
	return &messageWriter{c: c, op: op}, nil
}

type messageWriter struct {
	c      *Conn
	op     byte
	closed bool
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, net.ErrClosed
	}
	if err := w.c.writeFrame(w.op, false, p); err != nil {
		return 0, err
	}
	w.op = opContinuation
	return len(p), nil
}

func (w *messageWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.c.writeFrame(w.op, true, nil)
}

// Close sends a close frame and waits up to 5 s for the server's, then
// closes the connection.
func (c *Conn) Close(code websocket.StatusCode, reason string) error {
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
func (c *Conn) CloseNow() error {
	c.finish(net.ErrClosed)
	return nil
}
