//go:build js

package wsmsg

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall/js"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Conn is the browser's WebSocket (in a page or a Worker), with the methods
// of coder/websocket's Conn that sockshim uses, built for a data path that
// crosses between JavaScript and Go as little as possible:
//
//   - Receiving: a JavaScript listener (not a js.FuncOf) queues each
//     message's ArrayBuffer. Go is called back only when its reader is
//     parked waiting (at once after a small message, from a posted task
//     after a large one, see glueSource); it drains the queue without further callbacks, one call per message
//     that copies the message straight into a pooled Go buffer (one copy,
//     no allocation, no js.Value per message).
//   - Sending: one call per message; the browser's send copies the bytes
//     straight out of Go memory (one copy, no Uint8Array allocated).
//
// Both directions use js.CopyBytesToJS with a Uint8Array subclass as the
// destination, whose set method receives wasm_exec.js's view of the Go
// slice: the receiver fills that view, the sender passes it to
// WebSocket.send. The view is used only during the call, as wasm_exec.js
// does itself. The glue is made with the Function constructor, so a page
// whose Content-Security-Policy forbids 'unsafe-eval' cannot use it.
type Conn struct {
	ws      js.Value
	g       js.Value // the glue's state: open, closed, code, reason
	recv    js.Value // Uint8Array subclass: recv.set(view) moves the oldest message into view
	send    js.Value // Uint8Array subclass: send.set(view) sends view as a binary message
	abandon js.Value // abandon(): the glue reports the socket closed at once (CloseNow)
	wake    js.Func

	signal    chan struct{} // the glue has news: opened, a message after an empty queue, closed
	closed    chan struct{} // the close event has fired
	closeOnce sync.Once
	readLimit atomic.Int64
	protocol  string

	closingMu sync.Mutex
	closeErr  error
}

// Message header that the glue writes in front of each message, in the Go
// buffer: status, close code (LE), wasClean, length (LE).
const (
	hdrLen = 8

	stEmpty   = 0 // nothing queued; the glue calls back on the next message
	stBinary  = 1
	stText    = 2
	stClosed  = 3 // queue drained and the socket closed: code, wasClean, reason
	stTooLong = 4 // the oldest message needs a buffer of length+hdrLen
)

// glueSource is the body of function(ws, wake).
const glueSource = `
"use strict";
const q = [];
const enc = new TextEncoder();
const g = {waiting: false, open: false, closed: false, code: 0, reason: "", clean: false, dead: false};
ws.binaryType = "arraybuffer";
ws.addEventListener("open", () => { g.open = true; if (!g.dead) wake(0); });
// Waking the reader: after a message under 1 KiB (a round trip's answer, a
// control packet) at once, which saves the posted task's latency and cost
// (round trips: 85 instead of 185 µs behind wisp-js, CPU per round trip
// 1.6x wisp-js's instead of 2.1x); after a larger one (bulk data: more is
// likely queued behind it) from a task posted behind the message events
// already queued, so that one callback drains them all (about three
// messages per callback). Waking at once whenever the link had been quiet
// for 100 µs gave a callback per bulk message again.
const mc = new MessageChannel();
mc.port1.onmessage = () => { if (!g.dead) wake(0); };
ws.addEventListener("message", (e) => {
	const m = typeof e.data === "string" ? {t: enc.encode(e.data)} : e.data;
	q.push(m);
	if (!g.waiting) return;
	g.waiting = false;
	if ((m.t || m).byteLength < 1024) { if (!g.dead) wake(0); } else mc.port2.postMessage(null);
});
const closed = (code, reason, clean) => {
	if (g.dead) return;
	g.closed = true; g.code = code; g.reason = reason; g.clean = clean;
	g.dead = true; mc.port1.close(); wake(1);
};
ws.addEventListener("close", (e) => closed(e.code, e.reason, e.wasClean));
// Node's WebSocket reports a failed connect with an error event only.
ws.addEventListener("error", () => { if (!g.open) closed(1006, "connection failed", false); });
const put32 = (v, o, n) => { v[o] = n; v[o+1] = n >>> 8; v[o+2] = n >>> 16; v[o+3] = n >>> 24; };
class Recv extends Uint8Array {
	get length() { return 0x7fffffff; }
	set(v) {
		if (q.length === 0) {
			if (!g.closed) { g.waiting = true; v[0] = 0; return; }
			const r = enc.encode(g.reason).subarray(0, v.length - 8);
			v[0] = 3; v[1] = g.code & 255; v[2] = g.code >>> 8; v[3] = g.clean ? 1 : 0;
			put32(v, 4, r.length);
			v.set(r, 8);
			return;
		}
		const m = q[0];
		const text = m.t !== undefined;
		const b = text ? m.t : new Uint8Array(m);
		put32(v, 4, b.length);
		if (b.length > v.length - 8) { v[0] = 4; return; }
		q.shift();
		v[0] = text ? 2 : 1;
		v.set(b, 8);
	}
}
class Send extends Uint8Array {
	get length() { return 0x7fffffff; }
	set(v) { try { ws.send(v); } catch (e) {} }
}
// abandon: this side takes the socket for closed now, without waiting for
// the close event (see CloseNow).
const abandon = () => closed(1001, "closed by this side", false);
return {g, recv: new Recv(0), send: new Send(0), abandon};
`

var (
	glueOnce sync.Once
	glueFn   js.Value
)

// Dial opens a WebSocket to url offering protocols and waits until it is
// open, closed, or ctx is done.
func Dial(ctx context.Context, url string, protocols []string) (c *Conn, err error) {
	defer func() {
		if r := recover(); r != nil {
			jsErr, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			c, err = nil, jsErr
		}
	}()
	glueOnce.Do(func() { glueFn = js.Global().Get("Function").New("ws", "wake", glueSource) })
	protos := make([]any, len(protocols))
	for i, p := range protocols {
		protos[i] = p
	}
	c = &Conn{
		ws:     js.Global().Get("WebSocket").New(url, protos),
		signal: make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
	c.readLimit.Store(32768)
	c.wake = js.FuncOf(func(_ js.Value, args []js.Value) any {
		if args[0].Int() == 1 {
			c.closeOnce.Do(func() { close(c.closed) })
			c.wake.Release() // the glue never calls it again
		}
		select {
		case c.signal <- struct{}{}:
		default:
		}
		return nil
	})
	glue := glueFn.Invoke(c.ws, c.wake)
	c.g, c.recv, c.send, c.abandon = glue.Get("g"), glue.Get("recv"), glue.Get("send"), glue.Get("abandon")
	for !c.g.Get("open").Bool() {
		select {
		case <-c.signal:
		case <-c.closed:
			return nil, c.closedErr()
		case <-ctx.Done():
			c.Close(websocket.StatusPolicyViolation, "dial timed out")
			return nil, ctx.Err()
		}
	}
	c.protocol = c.ws.Get("protocol").String()
	return c, nil
}

// closedErr is the error of a socket whose close event has fired.
func (c *Conn) closedErr() error {
	err := error(websocket.CloseError{Code: websocket.StatusCode(c.g.Get("code").Int()), Reason: c.g.Get("reason").String()})
	if !c.g.Get("clean").Bool() {
		err = fmt.Errorf("unclean connection close: %w", err)
	}
	return err
}

// SetReadLimit bounds the size of a message; a longer one closes the
// connection with StatusMessageTooBig. The default is 32768, as in
// coder/websocket.
func (c *Conn) SetReadLimit(n int64) { c.readLimit.Store(n) }

// Subprotocol is the protocol the server chose.
func (c *Conn) Subprotocol() string { return c.protocol }

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Write sends p as one message. It never blocks: the browser queues what
// it cannot send yet (flow control must come from the protocol above).
func (c *Conn) Write(ctx context.Context, typ websocket.MessageType, p []byte) error {
	if c.isClosed() {
		return fmt.Errorf("failed to write: %w", net.ErrClosed)
	}
	switch typ {
	case websocket.MessageBinary:
		js.CopyBytesToJS(c.send, p)
	case websocket.MessageText:
		c.ws.Call("send", string(p))
	default:
		return fmt.Errorf("failed to write: unexpected message type %v", typ)
	}
	return nil
}

// Close starts the closing handshake and waits for the close event.
func (c *Conn) Close(code websocket.StatusCode, reason string) (err error) {
	c.closingMu.Lock()
	defer c.closingMu.Unlock()
	if err := c.startClose(code, reason); err != nil {
		return err
	}
	<-c.closed
	if !c.g.Get("clean").Bool() {
		return c.closedErr()
	}
	return nil
}

// StartClose starts the closing handshake and returns at once; Done is
// closed when the close event fires. Unlike Close, it does not wait on the
// peer.
func (c *Conn) StartClose(code websocket.StatusCode, reason string) error {
	c.closingMu.Lock()
	defer c.closingMu.Unlock()
	return c.startClose(code, reason)
}

// Done is closed when the browser's close event has fired.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// CloseEvent is what the browser's close event said.
type CloseEvent struct {
	Code     int
	Reason   string
	WasClean bool
}

// CloseEvent returns the close event once it has fired (ok false before).
func (c *Conn) CloseEvent() (ev CloseEvent, ok bool) {
	if !c.isClosed() {
		return CloseEvent{}, false
	}
	return CloseEvent{Code: c.g.Get("code").Int(), Reason: c.g.Get("reason").String(), WasClean: c.g.Get("clean").Bool()}, true
}

// BufferedAmount is the WebSocket's bufferedAmount: bytes that send has
// queued in the tab and the browser has not yet handed to the network.
func (c *Conn) BufferedAmount() int { return c.ws.Get("bufferedAmount").Int() }

func (c *Conn) startClose(code websocket.StatusCode, reason string) (err error) {
	if c.isClosed() {
		return net.ErrClosed
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				jsErr, ok := r.(js.Error)
				if !ok {
					panic(r)
				}
				err = fmt.Errorf("failed to close WebSocket: %w", jsErr)
			}
		}()
		c.ws.Call("close", browserCloseCode(code), truncateReason(reason))
	}()
	return err
}

// browserCloseCode is code if WebSocket.close accepts it (1000 and
// 3000-4999); otherwise 1000: the browser throws on every other code,
// which would leave the socket open.
func browserCloseCode(code websocket.StatusCode) int {
	if code == websocket.StatusNormalClosure || code >= 3000 && code <= 4999 {
		return int(code)
	}
	return int(websocket.StatusNormalClosure)
}

// truncateReason cuts reason to the 123 bytes of UTF-8 a close frame has
// room for, at a rune boundary.
func truncateReason(reason string) string {
	if len(reason) <= 123 {
		return reason
	}
	n := 123
	for n > 0 && !utf8.RuneStart(reason[n]) {
		n--
	}
	return reason[:n]
}

// Ping fails: JavaScript cannot send WebSocket pings (the browser answers
// the server's).
func (c *Conn) Ping(ctx context.Context) error {
	return errors.New("websocket: a browser cannot send pings")
}

// CloseNow closes the connection without waiting for the server. A browser
// cannot drop a WebSocket: it still runs the closing handshake, whose close
// event a vanished peer (a blackholed link) holds back until the browser
// gives up, 60 s in Chromium and 20 s in Firefox. So this side takes the
// socket for closed at once: Read returns what was already queued, then an
// error (StatusGoingAway, unclean), Write fails, Done is closed.
func (c *Conn) CloseNow() error {
	err := c.startClose(websocket.StatusGoingAway, "")
	c.abandon.Invoke()
	return err
}

// Read returns the next message. The returned slice is valid only until the
// next call of Read, unless Take hands its buffer over.
func (r *Reader) Read(ctx context.Context) (websocket.MessageType, []byte, error) {
	c := r.conn
	for {
		if r.buf == nil {
			r.buf = pool.Get().(*[]byte)
		}
		buf := *r.buf
		js.CopyBytesToJS(c.recv, buf)
		n := int(binary.LittleEndian.Uint32(buf[4:hdrLen]))
		switch buf[0] {
		case stBinary, stText:
			if limit := c.readLimit.Load(); limit >= 0 && int64(n) > limit {
				return 0, nil, r.tooBig(limit)
			}
			typ := websocket.MessageBinary
			if buf[0] == stText {
				typ = websocket.MessageText
			}
			return typ, buf[hdrLen : hdrLen+n], nil
		case stTooLong:
			if limit := c.readLimit.Load(); limit >= 0 && int64(n) > limit {
				return 0, nil, r.tooBig(limit)
			}
			grown := make([]byte, hdrLen+n)
			Put(r.buf)
			r.buf = &grown // a grown buffer is never pooled
		case stClosed:
			return 0, nil, fmt.Errorf("failed to read: %w", c.closedErr())
		default: // stEmpty: the glue calls back on the next message
			select {
			case <-c.signal:
			case <-c.closed:
				// The glue reports the close once the queue is drained.
			case <-ctx.Done():
				c.Close(websocket.StatusPolicyViolation, "read timed out")
				return 0, nil, ctx.Err()
			}
		}
	}
}

func (r *Reader) tooBig(limit int64) error {
	reason := fmt.Sprintf("read limited at %d bytes", limit)
	go r.conn.Close(websocket.StatusMessageTooBig, reason)
	return fmt.Errorf("%w: %s", websocket.ErrMessageTooBig, reason)
}
