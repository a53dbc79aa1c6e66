package shim

import "syscall/js"

// defaultTransport is the relay at the page's own origin.
func defaultTransport() Transport {
	loc := js.Global().Get("location")
	if loc.IsUndefined() || loc.Get("host").IsUndefined() {
		return DirectTransport(nil) // Node: no page, no default relay
	}
	scheme := "ws"
	if loc.Get("protocol").String() == "https:" {
		scheme = "wss"
	}
	return RelayTransport(scheme+"://"+loc.Get("host").String()+"/wisp/", nil)
}
