package shim

import "sync"

// rfc6455ForTest are the WebSockets UseRFC6455ForTest marked.
var rfc6455ForTest sync.Map // *webSocket -> struct{}

func init() {
	testRFC6455 = func(w *webSocket) bool { _, ok := rfc6455ForTest.Load(w); return ok }
}

// UseRFC6455ForTest makes a WebSocket use sockshim's own RFC 6455 client
// over a StreamSocket, the path the browser build takes for requests the
// browser's WebSocket cannot make, so native tests cover it too.
func UseRFC6455ForTest(ws interface{ rawClient() *webSocket }) {
	rfc6455ForTest.Store(ws.rawClient(), struct{}{})
}

func (w *webSocket) rawClient() *webSocket { return w }
