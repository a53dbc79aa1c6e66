package shim

// UseRFC6455ForTest makes a WebSocket use sockshim's own RFC 6455 client
// over a StreamSocket, the path the browser build takes for requests the
// browser's WebSocket cannot make, so native tests cover it too.
func UseRFC6455ForTest(ws interface{ rawClient() *webSocket }) {
	w := ws.rawClient()
	w.mu.Lock()
	w.forceRaw = true
	w.mu.Unlock()
}

func (w *webSocket) rawClient() *webSocket { return w }
