//go:build js

package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/relay"
)

// maxQueued bounds client messages received and not yet read by the
// session. The Workers runtime has no backpressure on a WebSocket's
// incoming messages, so a client that ignores its Wisp credit could
// otherwise fill the isolate's 128 MB; one that does is disconnected
// (1008). Credit-abiding clients stay far below: 6 streams x 32 packets of
// 64 KiB is 12 MiB.
const maxQueued = 32 << 20

// wsConn is the server end of a Workers WebSocketPair as a relay.MessageConn.
type wsConn struct {
	ws          js.Value
	subprotocol string
	listeners   []listener

	mu      sync.Mutex
	queue   []message
	queued  int
	closed  error // set once the peer closed or the socket failed
	sent    bool  // we sent a close frame
	signal  chan struct{}
	maxRead int
}

type listener struct {
	event string
	fn    js.Func
}

type message struct {
	typ  websocket.MessageType
	data []byte
}

var _ relay.MessageConn = (*wsConn)(nil)

// newWSConn accepts ws (the server end of a pair) and starts receiving.
// maxRead is the largest message accepted (relay.Options.MaxMessage).
func newWSConn(ws js.Value, subprotocol string, maxRead int) *wsConn {
	c := &wsConn{ws: ws, subprotocol: subprotocol, signal: make(chan struct{}, 1), maxRead: maxRead}
	ws.Set("binaryType", "arraybuffer")
	c.on("message", func(e js.Value) {
		d := e.Get("data")
		m := message{typ: websocket.MessageBinary}
		if d.Type() == js.TypeString {
			m = message{typ: websocket.MessageText, data: []byte(d.String())}
		} else {
			m.data = bytesFromJS(d)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed != nil {
			return
		}
		if len(m.data) > c.maxRead {
			c.failLocked(websocket.StatusMessageTooBig, fmt.Sprintf("message of %d bytes, limit %d", len(m.data), c.maxRead))
			return
		}
		if c.queued+len(m.data) > maxQueued {
			c.failLocked(websocket.StatusPolicyViolation, "client sent more than its Wisp credit allows")
			return
		}
		c.queue = append(c.queue, m)
		c.queued += len(m.data)
		c.notify()
	})
	c.on("close", func(e js.Value) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed == nil {
			c.closed = websocket.CloseError{Code: websocket.StatusCode(e.Get("code").Int()), Reason: str(e.Get("reason"))}
		}
		c.notify()
		if !c.sent {
			// Answer the close handshake, as a WebSocket library does.
			c.sent = true
			try(func() { c.ws.Call("close", e.Get("code").Int(), "") })
		}
	})
	c.on("error", func(e js.Value) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed == nil {
			c.closed = fmt.Errorf("websocket error: %v", toJSError(e.Get("error")))
		}
		c.notify()
	})
	ws.Call("accept")
	return c
}

func (c *wsConn) on(event string, f func(js.Value)) {
	fn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		f(arg0(args))
		return nil
	})
	c.listeners = append(c.listeners, listener{event, fn})
	c.ws.Call("addEventListener", event, fn)
}

func (c *wsConn) notify() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// failLocked closes the socket with code after a violation by the client.
func (c *wsConn) failLocked(code websocket.StatusCode, reason string) {
	c.closed = websocket.CloseError{Code: code, Reason: reason}
	c.queue, c.queued = nil, 0
	if !c.sent {
		c.sent = true
		try(func() { c.ws.Call("close", int(code), reason) })
	}
	c.notify()
}

func (c *wsConn) Read(ctx context.Context) (websocket.MessageType, []byte, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue[0] = message{}
			c.queue = c.queue[1:]
			c.queued -= len(m.data)
			c.mu.Unlock()
			return m.typ, m.data, nil
		}
		err := c.closed
		c.mu.Unlock()
		if err != nil {
			return 0, nil, err
		}
		select {
		case <-c.signal:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
}

// Write sends one message. The Workers runtime buffers sends without
// backpressure; the relay's flow control (the client's window) bounds them.
func (c *wsConn) Write(_ context.Context, typ websocket.MessageType, p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed != nil || c.sent {
		return errors.Join(errors.New("websocket closed"), c.closed)
	}
	var v any = bytesToJS(p)
	if typ == websocket.MessageText {
		v = string(p)
	}
	return try(func() { c.ws.Call("send", v) })
}

func (c *wsConn) Close(code websocket.StatusCode, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent {
		return nil
	}
	c.sent = true
	if c.closed == nil {
		c.closed = websocket.CloseError{Code: code, Reason: reason}
	}
	c.notify()
	if len(reason) > 123 {
		reason = reason[:123]
	}
	return try(func() { c.ws.Call("close", int(code), reason) })
}

// CloseNow closes without waiting; a Workers socket has no other close.
func (c *wsConn) CloseNow() error {
	err := c.Close(websocket.StatusNormalClosure, "")
	c.mu.Lock()
	ls := c.listeners
	c.listeners = nil
	c.mu.Unlock()
	for _, l := range ls {
		c.ws.Call("removeEventListener", l.event, l.fn)
		l.fn.Release()
	}
	return err
}

// Ping is not available to a Worker (the runtime answers the client's pings
// itself); the session's idle timeout still ends dead sessions.
func (c *wsConn) Ping(context.Context) error { return nil }

func (c *wsConn) Subprotocol() string { return c.subprotocol }
