//go:build js

// Command wasm is the browser build of sockshim behind web/sockshim.js, the
// Direct Sockets API (TCPSocket, UDPSocket, TCPServerSocket) for every
// browser. It runs in a dedicated Worker (web/sockshim-worker.js) or in the
// page (load({worker: false})); either way it exposes one small bridge to
// JavaScript and never touches window or document.
//
// The bridge (bridge.go) is handed to globalThis[$SOCKSHIM_READY]:
//
//	configure({relay, appId, secret, worker, emit})
//	call(op, args) -> Promise      // open, startTls, closeWrite, close, info
//	write(id, Uint8Array)          // TCP data, copied at once, never blocks
//	send(id, Uint8Array, host, port)  // one UDP datagram
//	pull(id, n)                    // read credit: bytes, datagrams or connections
//	batch(ops, from, to)           // many writes, sends and pulls in one call (the Worker's)
//
// Go reports to JavaScript through emit(code, id, a, b, c), code being the
// event's number in eventCodes (bridge.go): "data" (a Uint8Array the caller
// may transfer), "end" (EOF or an error), "sent" (bytes or datagrams handed
// to the relay, acknowledged in bulk, for write backpressure), "werr",
// "dgram", "accept" and "log".
package main

import (
	"os"
	"syscall/js"
)

func main() {
	b := newBridge()
	name := os.Getenv("SOCKSHIM_READY")
	if name == "" {
		name = "__sockshimReady"
	}
	ready := js.Global().Get(name)
	if ready.Type() != js.TypeFunction {
		println("sockshim: no", name, "function to hand the bridge to")
		return
	}
	ready.Invoke(b.object())
	select {}
}
