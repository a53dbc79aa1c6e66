package shim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/wsmsg"
)

// browserConn is a wsConn on the browser's own WebSocket: the thin
// platform adapter under webSocket's state machine. The binding itself
// (one JS crossing per message, the close event's code, reason and
// wasClean) is internal/wsmsg's, which the Wisp data path uses too.
type browserConn struct {
	c     *wsmsg.Conn
	r     *wsmsg.Reader
	bound int // OutboundBufferSizeInBytes, or DefaultOutboundBufferSize

	mu      sync.Mutex
	local   *WebSocketClosedEventArgs // a close this side decided: 1009, or Close's code before the event came
	waits   int                       // sends that waited on bufferedAmount (tests)
	maxSeen int                       // the largest bufferedAmount right after a send (tests)
}

// closeWait bounds how long Close waits for the browser's close event, as
// coder/websocket natively waits 5 s for the peer's close frame; the
// browser finishes the handshake on its own afterwards.
const closeWait = 5 * time.Second

func dialBrowser(ctx context.Context, uri string, protocols []string, bound uint32) (*browserConn, error) {
	c, err := wsmsg.Dial(ctx, uri, protocols)
	if err != nil {
		return nil, err
	}
	b := &browserConn{c: c, r: wsmsg.NewReader(c), bound: int(bound)}
	if b.bound == 0 {
		b.bound = DefaultOutboundBufferSize
	}
	return b, nil
}

func (b *browserConn) wholeMessages() {}

func (b *browserConn) Subprotocol() string  { return b.c.Subprotocol() }
func (b *browserConn) SetReadLimit(n int64) { b.c.SetReadLimit(n) }

// Reader returns the next message, whole (the browser delivers nothing
// else), copied out of wsmsg's reused buffer.
func (b *browserConn) Reader(ctx context.Context) (websocket.MessageType, io.Reader, error) {
	typ, msg, err := b.r.Read(ctx)
	if err != nil {
		if errors.Is(err, websocket.ErrMessageTooBig) {
			// wsmsg has started the close (with 1000: script cannot send
			// 1009); report what happened.
			ce := websocket.CloseError{Code: websocket.StatusMessageTooBig, Reason: "message too big"}
			b.setLocal(WebSocketClosedEventArgs{Code: uint16(ce.Code), Reason: ce.Reason})
			return 0, nil, fmt.Errorf("%w: %w", err, ce)
		}
		return 0, nil, err
	}
	return typ, bytes.NewReader(bytes.Clone(msg)), nil
}

// Writer is unused (writeMessage calls sendMessage) but completes wsConn.
func (b *browserConn) Writer(ctx context.Context, typ websocket.MessageType) (io.WriteCloser, error) {
	return &browserWriter{ctx: ctx, b: b, typ: typ}, nil
}

type browserWriter struct {
	ctx context.Context
	b   *browserConn
	typ websocket.MessageType
	buf bytes.Buffer
}

func (w *browserWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *browserWriter) Close() error                { return w.b.sendMessage(w.ctx, w.typ, w.buf.Bytes()) }

// sendMessage waits until p fits in the browser's send buffer under the
// bound (an empty buffer takes any message), then sends it. The browser
// has no event for a draining buffer, so the wait polls bufferedAmount,
// from every 1 ms up to every 16 ms.
func (b *browserConn) sendMessage(ctx context.Context, typ websocket.MessageType, p []byte) error {
	delay := time.Millisecond
	waited := false
	for {
		amt := b.c.BufferedAmount()
		if amt == 0 || amt+len(p) <= b.bound {
			break
		}
		if !waited {
			waited = true
			b.mu.Lock()
			b.waits++
			b.mu.Unlock()
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-b.c.Done():
			t.Stop()
			return fmt.Errorf("failed to write: %w", net.ErrClosed)
		case <-t.C:
		}
		delay = min(2*delay, 16*time.Millisecond)
	}
	if err := b.c.Write(ctx, typ, p); err != nil {
		return err
	}
	amt := b.c.BufferedAmount()
	b.mu.Lock()
	b.maxSeen = max(b.maxSeen, amt)
	b.mu.Unlock()
	return nil
}

// checkClose refuses what WebSocket.close would throw on, before the
// socket is marked closed, so the app can close again with a valid code.
func (b *browserConn) checkClose(code uint16, reason string) error {
	if code != 1000 && (code < 3000 || code > 4999) {
		return errf("close code %d: a browser lets script send only 1000 and 3000-4999: %w", code, ErrInvalidArgument)
	}
	if len(reason) > 123 {
		return errf("close reason of %d bytes: at most 123: %w", len(reason), ErrInvalidArgument)
	}
	return nil
}

// Close starts the closing handshake and waits up to closeWait for the
// close event.
func (b *browserConn) Close(code websocket.StatusCode, reason string) error {
	b.setLocal(WebSocketClosedEventArgs{Code: uint16(code), Reason: reason})
	if err := b.c.StartClose(code, reason); err != nil {
		return err
	}
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-b.c.Done():
	case <-t.C:
		return fmt.Errorf("the browser's close event did not come within %v", closeWait)
	}
	if ev, _ := b.c.CloseEvent(); !ev.WasClean {
		return fmt.Errorf("unclean close: code %d %q", ev.Code, ev.Reason)
	}
	return nil
}

// CloseNow starts closing and does not wait.
func (b *browserConn) CloseNow() error {
	return b.c.StartClose(websocket.StatusNormalClosure, "")
}

func (b *browserConn) setLocal(ev WebSocketClosedEventArgs) {
	b.mu.Lock()
	if b.local == nil || b.local.Code != uint16(websocket.StatusMessageTooBig) {
		b.local = &ev
	}
	b.mu.Unlock()
}

// closedEvent is the browser's close event exactly, except for a close
// this side decided for a too-big message (the browser's event then says
// 1000), and a Close whose event has not come yet (WasClean false).
func (b *browserConn) closedEvent() (WebSocketClosedEventArgs, bool) {
	b.mu.Lock()
	local := b.local
	b.mu.Unlock()
	if local != nil && local.Code == uint16(websocket.StatusMessageTooBig) {
		return *local, true
	}
	if ev, ok := b.c.CloseEvent(); ok {
		return WebSocketClosedEventArgs{Code: uint16(ev.Code), Reason: ev.Reason, WasClean: ev.WasClean}, true
	}
	if local != nil {
		return *local, true
	}
	return WebSocketClosedEventArgs{}, false
}

// probeTimeout bounds the probe fetch.
const probeTimeout = 10 * time.Second

// probeHandshake fetches u (as http:// or https://) to learn the HTTP
// status the page may read, and returns it with a note for the error. It
// reports WebErrorUnknown whenever the answer says nothing about the
// refusal: a network error or a CORS refusal (fetch rejects both alike),
// a redirect (opaque with redirect "manual"), a success, or 426 Upgrade
// Required (the URL wants a WebSocket: the handshake failed for another
// reason, such as Origin or subprotocol).
func probeHandshake(ctx context.Context, u *url.URL) (WebErrorStatus, string) {
	hu := *u
	hu.Scheme = strings.Replace(hu.Scheme, "ws", "http", 1)
	target := hu.String()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	status, typ, err := jsFetchStatus(ctx, target)
	switch {
	case err != nil:
		return WebErrorUnknown, fmt.Sprintf("a probe fetch of %s could not read a status (network error, or cross-origin without CORS): %v", target, err)
	case typ == "opaqueredirect":
		return WebErrorUnknown, fmt.Sprintf("a probe fetch of %s was redirected (not followed)", target)
	case status == http.StatusUpgradeRequired:
		return WebErrorUnknown, fmt.Sprintf("a probe fetch of %s answered 426 Upgrade Required (the URL takes WebSockets; the handshake failed for another reason)", target)
	case status < 400:
		return WebErrorUnknown, fmt.Sprintf("a probe fetch of %s answered %d %s", target, status, http.StatusText(status))
	}
	ws := WebErrorStatus(status)
	if _, ok := webStatusNames[ws]; !ok {
		ws = WebErrorUnexpectedStatusCode
	}
	return ws, fmt.Sprintf("a probe fetch of %s (a plain GET, not the handshake itself) answered %d %s", target, status, http.StatusText(status))
}

// jsFetchStatus runs fetch(target) in CORS mode and returns the response's
// status and type. Go's js net/http would do, except that it refuses to
// use fetch under Node.
func jsFetchStatus(ctx context.Context, target string) (status int, typ string, err error) {
	defer func() {
		if r := recover(); r != nil {
			jsErr, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = jsErr
		}
	}()
	fetch := js.Global().Get("fetch")
	if fetch.Type() != js.TypeFunction {
		return 0, "", fmt.Errorf("no fetch here: %w", ErrNotSupported)
	}
	ac := js.Global().Get("AbortController").New()
	opts := js.Global().Get("Object").New()
	opts.Set("mode", "cors")
	opts.Set("credentials", "same-origin")
	opts.Set("redirect", "manual")
	opts.Set("cache", "no-store")
	opts.Set("signal", ac.Get("signal"))
	type result struct {
		status int
		typ    string
		err    error
	}
	done := make(chan result, 1)
	onOK := js.FuncOf(func(_ js.Value, args []js.Value) any {
		resp := args[0]
		done <- result{status: resp.Get("status").Int(), typ: resp.Get("type").String()}
		if body := resp.Get("body"); body.Truthy() {
			body.Call("cancel").Call("catch", js.Global().Get("Function").New(""))
		}
		return nil
	})
	defer onOK.Release()
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{err: errors.New(args[0].Call("toString").String())}
		return nil
	})
	defer onErr.Release()
	fetch.Invoke(target, opts).Call("then", onOK, onErr)
	select {
	case r := <-done:
		return r.status, r.typ, r.err
	case <-ctx.Done():
		ac.Call("abort")
		<-done // the promise settles (rejected) once aborted
		return 0, "", ctx.Err()
	}
}
