//go:build js

// Command wasm is the browser build of sockshim for the demo page and for
// JavaScript apps: it exposes the shim API to JavaScript as
// globalThis.sockshim (see web/sockshim.js) and then waits.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"syscall/js"
	"time"

	"github.com/sockshim/sockshim/shim"
)

func main() {
	api := js.Global().Get("Object").New()
	api.Set("connectStream", js.FuncOf(connectStream))
	api.Set("listen", js.FuncOf(listen))
	api.Set("connectDatagram", js.FuncOf(connectDatagram))
	api.Set("version", "sockshim-dev")
	js.Global().Set("sockshim", api)
	if ready := js.Global().Get("__sockshimReady"); ready.Type() == js.TypeFunction {
		ready.Invoke(api)
	}
	select {}
}

// promise runs fn on a goroutine (JS callbacks must never block) and
// settles a Promise with its result.
func promise(fn func() (any, error)) js.Value {
	executor := js.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			v, err := fn()
			if err != nil {
				reject.Invoke(jsError(err))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	p := js.Global().Get("Promise").New(executor)
	executor.Release() // the executor runs synchronously inside new Promise
	return p
}

// jsError is an Error with the WinRT status and the access-denied flag.
func jsError(err error) js.Value {
	e := js.Global().Get("Error").New(err.Error())
	e.Set("status", shim.GetStatus(err).String())
	e.Set("accessDenied", errors.Is(err, shim.ErrAccessDenied))
	return e
}

// connectStream(host, service, options?) -> Promise<socket>: a StreamSocket
// on the default transport (the page's relay). options.tls negotiates TLS
// (in this tab: the relay sees only ciphertext); options.caPEM adds trusted
// roots.
func connectStream(this js.Value, args []js.Value) any {
	if len(args) < 2 {
		return promise(func() (any, error) { return nil, errors.New("connectStream(host, service, options?)") })
	}
	hostArg, service := args[0].String(), args[1].String()
	var useTLS bool
	var caPEM string
	if len(args) > 2 && args[2].Type() == js.TypeObject {
		useTLS = args[2].Get("tls").Truthy()
		if v := args[2].Get("caPEM"); v.Type() == js.TypeString {
			caPEM = v.String()
		}
	}
	return promise(func() (any, error) {
		host, err := shim.NewHostName(hostArg)
		if err != nil {
			return nil, err
		}
		s := new(shim.StreamSocket)
		if caPEM != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(caPEM)) {
				return nil, errors.New("caPEM holds no certificate")
			}
			s.Control().SetTrustedRoots(pool)
		}
		if useTLS {
			err = s.ConnectWithProtectionLevel(context.Background(), host, service, shim.ProtectionLevelSsl)
		} else {
			err = s.Connect(context.Background(), host, service)
		}
		if err != nil {
			return nil, err
		}
		return socketObject(s), nil
	})
}

// listen(service, onConnection) -> Promise<listener>: a StreamSocketListener
// held by the page's relay; onConnection(socket) runs for each accepted
// connection. The listener has host, port and close().
func listen(this js.Value, args []js.Value) any {
	if len(args) < 2 || args[1].Type() != js.TypeFunction {
		return promise(func() (any, error) { return nil, errors.New("listen(service, onConnection)") })
	}
	service, onConn := args[0].String(), args[1]
	return promise(func() (any, error) {
		l := new(shim.StreamSocketListener)
		l.ConnectionReceived = func(_ *shim.StreamSocketListener, s *shim.StreamSocket) {
			onConn.Invoke(socketObject(s))
		}
		if err := l.BindServiceName(context.Background(), service); err != nil {
			return nil, err
		}
		info := l.Information()
		o := js.Global().Get("Object").New()
		o.Set("port", info.ReachablePort)
		if info.ReachableHostName != nil {
			o.Set("host", info.ReachableHostName.CanonicalName())
		}
		var closeFn js.Func
		closeFn = js.FuncOf(func(js.Value, []js.Value) any {
			return promise(func() (any, error) {
				closeFn.Release()
				return nil, l.Close()
			})
		})
		o.Set("close", closeFn)
		return o, nil
	})
}

// connectDatagram(host, service, options?) -> Promise<socket>: a connected
// DatagramSocket; options.lowLatency asks for a WebRTC data channel (the
// socket falls back to the WebSocket by itself). The socket has
// send(data) -> Promise, receive(timeoutMs = 5000) -> Promise<Uint8Array>
// (one whole datagram) and close().
func connectDatagram(this js.Value, args []js.Value) any {
	if len(args) < 2 {
		return promise(func() (any, error) { return nil, errors.New("connectDatagram(host, service, options?)") })
	}
	hostArg, service := args[0].String(), args[1].String()
	lowLatency := len(args) > 2 && args[2].Type() == js.TypeObject && args[2].Get("lowLatency").Truthy()
	return promise(func() (any, error) {
		host, err := shim.NewHostName(hostArg)
		if err != nil {
			return nil, err
		}
		d := new(shim.DatagramSocket)
		if lowLatency {
			d.Control().SetQualityOfService(shim.QualityOfServiceLowLatency)
		}
		if err := d.Connect(context.Background(), host, service); err != nil {
			return nil, err
		}
		o := newJSObject()
		o.method("send", func(args []js.Value) any {
			b := bytesArg(args)
			return promise(func() (any, error) { _, err := d.Write(b); return nil, err })
		})
		o.method("receive", func(args []js.Value) any {
			timeout := 5 * time.Second
			if len(args) > 0 && args[0].Type() == js.TypeNumber {
				timeout = time.Duration(args[0].Int()) * time.Millisecond
			}
			return promise(func() (any, error) {
				d.SetReadDeadline(time.Now().Add(timeout))
				buf := make([]byte, 64<<10)
				n, err := d.Read(buf)
				if err != nil {
					return nil, err
				}
				a := js.Global().Get("Uint8Array").New(n)
				js.CopyBytesToJS(a, buf[:n])
				return a, nil
			})
		})
		o.closeMethod(d)
		return o.v, nil
	})
}

// bytesArg reads a string or a Uint8Array argument.
func bytesArg(args []js.Value) []byte {
	if len(args) == 0 {
		return nil
	}
	if args[0].Type() == js.TypeString {
		return []byte(args[0].String())
	}
	b := make([]byte, args[0].Get("byteLength").Int())
	js.CopyBytesToGo(b, args[0])
	return b
}

func socketObject(s *shim.StreamSocket) js.Value {
	o := newJSObject()
	info := s.Information()
	if info.RemoteAddress != nil {
		o.v.Set("remoteAddress", info.RemoteAddress.CanonicalName()+":"+info.RemotePort)
	}
	if info.LocalAddress != nil {
		o.v.Set("localAddress", info.LocalAddress.CanonicalName()+":"+info.LocalPort)
	}
	o.v.Set("protectionLevel", info.ProtectionLevel.String())
	if c := info.ServerCertificate; c != nil {
		o.v.Set("serverCertificate", c.Subject.String())
	}
	// write(Uint8Array | string) -> Promise<number>
	o.method("write", func(args []js.Value) any {
		b := bytesArg(args)
		return promise(func() (any, error) {
			n, err := s.Write(b)
			return n, err
		})
	})
	// read(max = 65536) -> Promise<Uint8Array | null>; null at end of stream.
	o.method("read", func(args []js.Value) any {
		max := 64 << 10
		if len(args) > 0 && args[0].Type() == js.TypeNumber {
			max = args[0].Int()
		}
		return promise(func() (any, error) {
			buf := make([]byte, max)
			n, err := s.Read(buf)
			if n == 0 && err != nil {
				if err.Error() == "EOF" {
					return nil, nil
				}
				return nil, err
			}
			a := js.Global().Get("Uint8Array").New(n)
			js.CopyBytesToJS(a, buf[:n])
			return a, nil
		})
	})
	// close() -> Promise; releases the socket's JS functions.
	o.closeMethod(s)
	return o.v
}

// jsObject is a JS object whose methods are Go functions, all released by
// its close method.
type jsObject struct {
	v     js.Value
	funcs []js.Func
}

func newJSObject() *jsObject { return &jsObject{v: js.Global().Get("Object").New()} }

func (o *jsObject) method(name string, fn func(args []js.Value) any) {
	f := js.FuncOf(func(this js.Value, args []js.Value) any { return fn(args) })
	o.funcs = append(o.funcs, f)
	o.v.Set(name, f)
}

// closeMethod adds close() -> Promise: it closes c, then releases every
// method of o.
func (o *jsObject) closeMethod(c io.Closer) {
	o.method("close", func([]js.Value) any {
		return promise(func() (any, error) {
			err := c.Close()
			for _, f := range o.funcs {
				f.Release()
			}
			return nil, err
		})
	})
}
