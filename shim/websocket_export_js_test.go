//go:build js

package shim

// BrowserSendStats returns, for a WebSocket on the browser's own
// WebSocket, how many sends waited on bufferedAmount, the largest
// bufferedAmount seen right after a send, and the bound; ok is false on
// another path.
func BrowserSendStats(ws interface{ rawClient() *webSocket }) (waits, maxBuffered, bound int, ok bool) {
	w := ws.rawClient()
	w.mu.Lock()
	d := w.dialed
	w.mu.Unlock()
	if d == nil {
		return 0, 0, 0, false
	}
	b, ok := d.conn.(*browserConn)
	if !ok {
		return 0, 0, 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waits, b.maxSeen, b.bound, true
}

// BrowserBufferedAmount is the browser WebSocket's bufferedAmount now.
func BrowserBufferedAmount(ws interface{ rawClient() *webSocket }) int {
	w := ws.rawClient()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dialed.conn.(*browserConn).c.BufferedAmount()
}
