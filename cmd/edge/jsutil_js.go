//go:build js

package main

import (
	"errors"
	"fmt"
	"syscall/js"
)

var (
	uint8Array = js.Global().Get("Uint8Array")
	object     = js.Global().Get("Object")
)

// jsError is an exception or a rejection from the Workers runtime, kept
// with its name and message so the caller can map it (mapSocketError).
type jsError struct {
	Name, Message string
}

func (e *jsError) Error() string { return e.Name + ": " + e.Message }

func toJSError(v js.Value) error {
	if v.Type() == js.TypeObject {
		name, msg := v.Get("name"), v.Get("message")
		if name.Type() == js.TypeString || msg.Type() == js.TypeString {
			return &jsError{Name: str(name), Message: str(msg)}
		}
	}
	return &jsError{Name: "Error", Message: js.Global().Get("String").Invoke(v).String()}
}

func str(v js.Value) string {
	if v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

// try runs f, turning a JS exception thrown in a call into an error.
func try(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			var je js.Error
			if e, ok := r.(error); ok && errors.As(e, &je) {
				err = toJSError(je.Value)
				return
			}
			err = fmt.Errorf("%v", r)
		}
	}()
	f()
	return nil
}

// errCanceled is what await returns when cancel closed first.
var errCanceled = errors.New("canceled")

// await waits for a promise; never call it from a JS callback (the
// promise could not settle while the callback blocks the event loop).
func await(p js.Value, cancel <-chan struct{}) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	var then, catch js.Func
	then = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: arg0(args)}
		return nil
	})
	catch = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: toJSError(arg0(args))}
		return nil
	})
	p.Call("then", then, catch)
	release := func() { then.Release(); catch.Release() }
	select {
	case r := <-ch:
		release()
		return r.v, r.err
	case <-cancel:
		// The promise may still settle; its callbacks must then exist.
		go func() { <-ch; release() }()
		return js.Undefined(), errCanceled
	}
}

func arg0(args []js.Value) js.Value {
	if len(args) == 0 {
		return js.Undefined()
	}
	return args[0]
}

// bytesFromJS copies an ArrayBuffer or typed array into Go.
func bytesFromJS(v js.Value) []byte {
	if !v.InstanceOf(uint8Array) {
		v = uint8Array.New(v)
	}
	b := make([]byte, v.Get("byteLength").Int())
	js.CopyBytesToGo(b, v)
	return b
}

func bytesToJS(b []byte) js.Value {
	a := uint8Array.New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}
