package wispclient

import (
	"bytes"
	"encoding/binary"
	"math"
	"sync"
	"syscall/js"
)

// jsChannel is rtcChannel on an RTCDataChannel (binaryType "arraybuffer"),
// built like wsmsg.Conn for a datagram path that crosses between
// JavaScript and Go as little as possible: a JavaScript listener queues
// the messages and calls Go once per batch (at once on a quiet channel,
// from a posted task when the last batch ended under 100 µs ago), which
// then drains the queue, one call per message that copies it into a
// reused Go buffer; a send is one call that hands the datagram straight
// from Go memory to RTCDataChannel.send. Both go through js.CopyBytesToJS
// with a Uint8Array subclass that receives wasm_exec.js's view of the Go
// slice (used only during the call). No js.FuncOf call and no js.Value per
// datagram.
type jsChannel struct {
	dc js.Value
	h  jsHandlers

	g, recv, send js.Value
	wake          js.Func
	glueOnce      sync.Once

	mu       sync.Mutex // the handler and the receive buffer
	onMsg    func([]byte)
	rbuf     []byte
	smu      sync.Mutex // the send buffer and bufferedAmount
	sbuf     []byte
	buffered uint64 // bufferedAmount after the last send
}

// Status bytes the glue writes at the start of the Go buffer.
const (
	dcEmpty   = 0 // receive: nothing queued
	dcMessage = 1 // receive: a binary message of length (LE u32 at 4); send: sent
	dcTooLong = 2 // receive: the oldest message needs length+8 bytes
	dcFailed  = 3 // send: send threw (the channel is not open); a text message is dropped
)

const dcGlueSource = `
"use strict";
const q = [];
const g = {dead: false};
dc.binaryType = "arraybuffer";
const mc = new MessageChannel();
let turnEnd = 0, waiting = true;
const run = () => { if (g.dead) return; wake(); turnEnd = performance.now(); };
mc.port1.onmessage = run;
dc.addEventListener("message", (e) => {
	if (typeof e.data === "string") return; // binary messages only
	q.push(e.data);
	if (!waiting) return;
	waiting = false;
	if (performance.now() - turnEnd < 0.1) mc.port2.postMessage(null); else run();
});
g.close = () => { g.dead = true; mc.port1.close(); };
const put32 = (v, o, n) => { v[o] = n; v[o+1] = n >>> 8; v[o+2] = n >>> 16; v[o+3] = n >>> 24; };
class Recv extends Uint8Array {
	get length() { return 0x7fffffff; }
	set(v) {
		if (q.length === 0) { waiting = true; v[0] = 0; return; }
		const b = new Uint8Array(q[0]);
		put32(v, 4, b.length);
		if (b.length > v.length - 8) { v[0] = 2; return; }
		q.shift();
		v[0] = 1;
		v.set(b, 8);
	}
}
class Send extends Uint8Array {
	get length() { return 0x7fffffff; }
	set(v) {
		try { dc.send(v.subarray(8)); v[0] = 1; } catch (e) { v[0] = 3; }
		const n = dc.bufferedAmount;
		put32(v, 4, n > 0xffffffff ? 0xffffffff : n);
	}
}
return {g, recv: new Recv(0), send: new Send(0)};
`

var dcGlue = sync.OnceValue(func() js.Value {
	return js.Global().Get("Function").New("dc", "wake", dcGlueSource)
})

func newJSChannel(dc js.Value) *jsChannel {
	c := &jsChannel{dc: dc, h: jsHandlers{obj: dc}, rbuf: make([]byte, 8+2048)}
	c.wake = js.FuncOf(func(js.Value, []js.Value) any {
		c.drain()
		return nil
	})
	glue := dcGlue().Invoke(dc, c.wake)
	c.g, c.recv, c.send = glue.Get("g"), glue.Get("recv"), glue.Get("send")
	return c
}

// drain hands every queued message to the handler; it runs on the event
// loop and never blocks (the handler queues the datagram).
func (c *jsChannel) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		js.CopyBytesToJS(c.recv, c.rbuf)
		n := int(binary.LittleEndian.Uint32(c.rbuf[4:8]))
		switch c.rbuf[0] {
		case dcMessage:
			if c.onMsg != nil {
				c.onMsg(bytes.Clone(c.rbuf[8 : 8+n]))
			}
		case dcTooLong:
			c.rbuf = make([]byte, 8+n)
		default: // dcEmpty: the glue calls back on the next message
			return
		}
	}
}

// releaseGlue stops the glue's callbacks and releases them.
func (c *jsChannel) releaseGlue() {
	c.glueOnce.Do(func() {
		c.g.Call("close")
		c.wake.Release()
	})
}

func (c *jsChannel) Send(b []byte) error {
	c.smu.Lock()
	defer c.smu.Unlock()
	if cap(c.sbuf) < 8+len(b) {
		c.sbuf = make([]byte, 8+len(b), max(8+len(b), 8+2048))
	}
	buf := c.sbuf[:8+len(b)]
	copy(buf[8:], b)
	js.CopyBytesToJS(c.send, buf)
	c.buffered = uint64(binary.LittleEndian.Uint32(buf[4:8]))
	if buf[0] != dcMessage {
		return catch(func() { c.dc.Call("send", uint8Array.New(0)) }) // the reason
	}
	return nil
}

// BufferedAmount is the channel's bufferedAmount as of the last send (a
// property read per datagram would cost a Go/JS crossing each).
func (c *jsChannel) BufferedAmount() uint64 {
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.buffered == math.MaxUint32 {
		return uint64(c.dc.Get("bufferedAmount").Float())
	}
	return c.buffered
}

// OnMessage sets the handler of binary messages, called on the event loop
// in order; text messages are dropped.
func (c *jsChannel) OnMessage(f func([]byte)) {
	c.mu.Lock()
	c.onMsg = f
	c.mu.Unlock()
}
