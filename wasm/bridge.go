//go:build js

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall/js"

	"github.com/sockshim/sockshim/shim"
)

var (
	jsObject     = js.Global().Get("Object")
	jsUint8Array = js.Global().Get("Uint8Array")
	jsPromise    = js.Global().Get("Promise")
)

// bridge is one sockshim instance: its relay, its sockets by id, and the
// JavaScript function events go to.
type bridge struct {
	emitFn    js.Value
	transport shim.Transport
	worker    bool
	relayURL  string

	mu     sync.Mutex
	objs   map[int]closer
	nextID int // ids the bridge assigns (accepted sockets) count down from -1
}

// closer is what the table holds: a socket, a datagram socket or a server.
type closer interface{ close() error }

func newBridge() *bridge { return &bridge{objs: map[int]closer{}} }

// object is the bridge as a JavaScript object. Its functions live as long
// as the instance (a page or a Worker), so they are never released.
func (b *bridge) object() js.Value {
	o := jsObject.New()
	o.Set("configure", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if err := b.configure(args[0]); err != nil {
			return errorValue(err)
		}
		return nil
	}))
	o.Set("call", js.FuncOf(func(_ js.Value, args []js.Value) any {
		op, a := args[0].String(), args[1]
		return promise(func() (any, error) { return b.call(op, a) })
	}))
	o.Set("write", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if s, ok := b.get(args[0].Int()).(*tcpSocket); ok {
			s.write(args[1])
		}
		return nil
	}))
	o.Set("send", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if s, ok := b.get(args[0].Int()).(*udpSocket); ok {
			s.send(args[1], args[2], args[3])
		}
		return nil
	}))
	o.Set("pull", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if p, ok := b.get(args[0].Int()).(interface{ pull(int) }); ok {
			p.pull(args[1].Int())
		}
		return nil
	}))
	// batch runs a run of ops [code, id, a, b, c] (a flat array, five
	// entries each, from index from to to): the Worker hands over every
	// write, send and pull of one message in one call, instead of one call
	// (and one postMessage) each.
	o.Set("batch", js.FuncOf(func(_ js.Value, args []js.Value) any {
		b.batch(args[0], args[1].Int(), args[2].Int())
		return nil
	}))
	o.Set("version", "sockshim-dev")
	return o
}

// The op codes of batch, shared with web/sockshim.js and
// web/sockshim-worker.js (OP).
const (
	opWrite = 1 // [1, id, Uint8Array]: TCP data
	opPull  = 2 // [2, id, n]: read credit
	opSend  = 3 // [3, id, Uint8Array, host, port]: one datagram
)

const opStride = 5

func (b *bridge) batch(ops js.Value, from, to int) {
	for i := from; i+opStride <= to; i += opStride {
		code, id := ops.Index(i).Int(), ops.Index(i+1).Int()
		switch code {
		case opWrite:
			if s, ok := b.get(id).(*tcpSocket); ok {
				s.write(ops.Index(i + 2))
			}
		case opPull:
			if p, ok := b.get(id).(interface{ pull(int) }); ok {
				p.pull(ops.Index(i + 2).Int())
			}
		case opSend:
			if s, ok := b.get(id).(*udpSocket); ok {
				s.send(ops.Index(i+2), ops.Index(i+3), ops.Index(i+4))
			}
		}
	}
}

// eventCodes number the events emit sends, so that the hot ones cross to
// JavaScript as numbers, not strings (a string costs a TextDecoder call).
// web/sockshim.js's EVENTS lists them in this order.
var eventCodes = map[string]int{"log": 0, "data": 1, "end": 2, "sent": 3, "werr": 4, "dgram": 5, "accept": 6}

func (b *bridge) configure(o js.Value) error {
	relay := o.Get("relay").String()
	if relay == "" {
		return fmt.Errorf("configure: no relay URL: %w", shim.ErrInvalidArgument)
	}
	opts := &shim.RelayOptions{}
	if v := o.Get("appId"); v.Type() == js.TypeString {
		opts.AppID = v.String()
	}
	if v := o.Get("secret"); v.Type() == js.TypeString {
		opts.Secret = v.String()
	}
	b.relayURL = relay
	b.transport = shim.RelayTransport(relay, opts)
	b.worker = o.Get("worker").Truthy()
	b.emitFn = o.Get("emit")
	return nil
}

// emit sends an event to JavaScript. Never call it with a lock held: the
// handler may call back into the bridge (pull) before it returns.
func (b *bridge) emit(typ string, id int, args ...any) {
	var a [5]any
	code, ok := eventCodes[typ]
	if !ok {
		panic("sockshim: emit of an unknown event " + typ)
	}
	a[0], a[1] = code, id
	n := 2 + copy(a[2:], args)
	b.emitFn.Invoke(a[:n]...)
}

func (b *bridge) logf(format string, args ...any) {
	b.emit("log", 0, fmt.Sprintf(format, args...))
}

func (b *bridge) get(id int) closer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.objs[id]
}

// add registers o under id; a page-chosen id must be new.
func (b *bridge) add(id int, o closer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.objs[id]; dup {
		return fmt.Errorf("socket id %d is taken: %w", id, shim.ErrInvalidArgument)
	}
	b.objs[id] = o
	return nil
}

// addNew registers o under a fresh bridge-chosen (negative) id.
func (b *bridge) addNew(o closer) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextID--
	b.objs[b.nextID] = o
	return b.nextID
}

func (b *bridge) remove(id int) closer {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.objs[id]
	delete(b.objs, id)
	return o
}

func (b *bridge) call(op string, a js.Value) (any, error) {
	if op == "http.get" {
		return b.httpGet(a)
	}
	if strings.HasPrefix(op, "broker.") {
		return b.brokerCall(op, a) // broker.go
	}
	id := a.Get("id").Int()
	switch op {
	case "tcp.open":
		return b.openTCP(id, a)
	case "udp.open":
		return b.openUDP(id, a)
	case "server.open":
		return b.openServer(id, a)
	case "close":
		o := b.remove(id)
		if o == nil {
			return nil, fmt.Errorf("close: %w", net.ErrClosed)
		}
		return nil, o.close()
	}
	o := b.get(id)
	if o == nil {
		return nil, fmt.Errorf("%s: %w", op, net.ErrClosed)
	}
	switch s := o.(type) {
	case *tcpSocket:
		switch op {
		case "tcp.closeWrite":
			return nil, s.closeWrite()
		case "tcp.startTls":
			return s.startTLS(a)
		case "info":
			return s.info(), nil
		}
	case *udpSocket:
		if op == "info" {
			return s.info(), nil
		}
	case *serverSocket:
		if op == "info" {
			return s.info(), nil
		}
	}
	return nil, fmt.Errorf("sockshim: no operation %q on socket %d: %w", op, id, shim.ErrInvalidArgument)
}

// opening tracks a socket whose open is under way, so close() can cancel it.
type opening struct{ cancel context.CancelFunc }

func (o opening) close() error { o.cancel(); return nil }

// promise runs fn on a goroutine (JS callbacks must never block) and
// settles a Promise with its result; errors become errorValue objects.
func promise(fn func() (any, error)) js.Value {
	var executor js.Func
	executor = js.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			v, err := fn()
			if err != nil {
				reject.Invoke(errorValue(err))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	p := jsPromise.New(executor)
	executor.Release() // the executor runs synchronously inside new Promise
	return p
}

// errorValue describes err as a plain object that survives postMessage:
// {name, message, status, accessDenied}. web/sockshim.js turns it into a
// DOMException with that name. The name follows the error's cause: the
// app's capabilities (NotAllowedError), this platform or relay
// (NotSupportedError), a malformed argument (SyntaxError), a timeout
// (TimeoutError), cancellation (AbortError), a closed socket
// (InvalidStateError), and everything else (NetworkError).
func errorValue(err error) js.Value {
	status := shim.GetStatus(err)
	name := "NetworkError"
	switch {
	case errors.Is(err, shim.ErrAccessDenied):
		name = "NotAllowedError"
	case errors.Is(err, shim.ErrNotSupported):
		name = "NotSupportedError"
	case errors.Is(err, shim.ErrInvalidArgument):
		name = "SyntaxError"
	case errors.Is(err, context.Canceled):
		name = "AbortError"
	case errors.Is(err, net.ErrClosed):
		name = "InvalidStateError"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), status == shim.SocketErrorConnectionTimedOut:
		name = "TimeoutError"
	}
	o := jsObject.New()
	o.Set("name", name)
	o.Set("message", err.Error())
	o.Set("status", status.String())
	o.Set("accessDenied", errors.Is(err, shim.ErrAccessDenied))
	return o
}

// hostArg parses a host name argument; "" is nil.
func hostArg(v js.Value) (*shim.HostName, error) {
	if v.Type() != js.TypeString || v.String() == "" {
		return nil, nil
	}
	return shim.NewHostName(v.String())
}

func intArg(v js.Value, def int) int {
	if v.Type() != js.TypeNumber {
		return def
	}
	return v.Int()
}

func portString(v js.Value) string {
	if v.Type() != js.TypeNumber {
		return "0"
	}
	return strconv.Itoa(v.Int())
}

// addrValue splits a HostName and port string into JS values.
func setAddr(o js.Value, hostKey, portKey string, h *shim.HostName, port string) {
	if h != nil {
		o.Set(hostKey, h.CanonicalName())
	}
	if p, err := strconv.Atoi(port); err == nil {
		o.Set(portKey, p)
	}
}

// newBytes copies b into a fresh Uint8Array, which JavaScript owns (and a
// Worker transfers to the page without another copy).
func newBytes(b []byte) js.Value {
	a := jsUint8Array.New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}
