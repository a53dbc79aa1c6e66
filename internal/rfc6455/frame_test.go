package rfc6455

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func seedFrames() [][]byte {
	return [][]byte{
		{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'},             // text "hello"
		{0x01, 0x02, 'h', 'e', 0x80, 0x03, 'l', 'l', 'o'}, // fragmented text
		{0x82, 0x7E, 0x00, 0x80},                          // binary, 16-bit length
		{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0},              // binary, 64-bit length
		{0x89, 0x02, 'h', 'i', 0x81, 0x00},                // ping between messages
		{0x88, 0x02, 0x03, 0xE8},                          // close 1000
		{0x81, 0x85, 1, 2, 3, 4, 'x', 'x', 'x', 'x', 'x'}, // masked: refused
		{0xC1, 0x00},                            // RSV1: refused
		{0x09, 0x00},                            // fragmented ping: refused
		{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0}, // top length bit: refused
		{0x80, 0x00},                            // continuation first: refused
		{0x81, 0x7E},                            // truncated
	}
}

// FuzzReadFrameHeader: a header that parses re-encodes to one that parses
// the same, in no more bytes; nothing panics.
func FuzzReadFrameHeader(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		h, err := readFrameHeader(r)
		if err != nil {
			if !errors.Is(err, errProtocol) && err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("readFrameHeader(%x): unexpected error kind %v", b, err)
			}
			return
		}
		used := len(b) - r.Len()
		if h.masked || h.length < 0 || (h.op >= opClose && (h.length > 125 || !h.fin)) {
			t.Fatalf("readFrameHeader(%x) accepted %+v", b, h)
		}
		enc := appendFrameHeader(nil, h)
		if len(enc) > used {
			t.Fatalf("re-encoding of %x takes %d bytes, the input %d", b[:used], len(enc), used)
		}
		h2, err := readFrameHeader(bytes.NewReader(enc))
		if err != nil || h2 != h {
			t.Fatalf("round trip of %+v: %+v, %v", h, h2, err)
		}
	})
}

// FuzzConnRead runs the client's reader over an arbitrary server byte
// stream: it never panics or hangs, never hands out more than the read
// limit in one message, and answers what it refuses with a close frame.
func FuzzConnRead(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fc := &fakeConn{r: bytes.NewReader(b)}
		c := newConn(fc, bufioReader(fc), "")
		c.SetReadLimit(1 << 12)
		for i := 0; i < 64; i++ {
			_, r, err := c.Reader(context.Background())
			if err != nil {
				return
			}
			n, err := io.Copy(io.Discard, r)
			if n > 1<<12 {
				t.Fatalf("a message of %d bytes passed the 4096-byte limit", n)
			}
			if err != nil {
				return
			}
		}
	})
}

// TestRefusalSendsClose: a protocol violation closes with 1002, an
// oversized message with 1009.
func TestRefusalSendsClose(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []byte
		code websocket.StatusCode
	}{
		{[]byte{0xC1, 0x00}, websocket.StatusProtocolError},
		{[]byte{0x80, 0x00}, websocket.StatusProtocolError},
		{[]byte{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0}, websocket.StatusProtocolError},
		{append([]byte{0x82, 0x7E, 0x10, 0x01}, make([]byte, 4097)...), websocket.StatusMessageTooBig},
	} {
		fc := &fakeConn{r: bytes.NewReader(tc.in)}
		c := newConn(fc, bufioReader(fc), "")
		c.SetReadLimit(1 << 12)
		_, r, err := c.Reader(context.Background())
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		if err == nil {
			t.Fatalf("%x: read without an error", tc.in)
		}
		out := fc.w.Bytes()
		if len(out) < 8 || out[0] != 0x88 {
			t.Fatalf("%x: wrote %x, want a close frame", tc.in, out)
		}
		// Client frames are masked: unmask the status code.
		code := websocket.StatusCode(uint16(out[6]^out[2])<<8 | uint16(out[7]^out[3]))
		if code != tc.code {
			t.Errorf("%x: closed with %d, want %d", tc.in, code, tc.code)
		}
	}
}

// fakeConn is a server that sends fixed bytes and records what it gets.
type fakeConn struct {
	r *bytes.Reader
	w bytes.Buffer
}

func (c *fakeConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *fakeConn) Write(b []byte) (int, error)      { return c.w.Write(b) }
func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
