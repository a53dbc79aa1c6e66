// Package shim is the Windows.Networking.Sockets programming model in Go
// (https://learn.microsoft.com/uwp/api/windows.networking.sockets), the same
// API natively and in a browser tab (GOOS=js GOARCH=wasm).
//
// A StreamSocket connects to a HostName and a service name and is then a
// net.Conn:
//
//	host, _ := shim.NewHostName("example.com")
//	s := new(shim.StreamSocket)
//	if err := s.Connect(ctx, host, "http"); err != nil {
//		if errors.Is(err, shim.ErrAccessDenied) { ... }      // capability policy
//		log.Print(shim.GetStatus(err))                      // e.g. ConnectionRefused
//	}
//
// Code that takes a dial function (net/http, pgx, x/crypto/ssh, go-redis,
// gRPC) uses Dialer, which has net.Dialer's shape; Listen and ListenPacket
// mirror net.Listen and net.ListenPacket:
//
//	d := &shim.Dialer{Transport: shim.RelayTransport(url, nil)}
//	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
//
// # Transports
//
// Natively, sockets use DirectTransport: operating-system sockets, with the
// same capability policy the relay enforces applied locally (by default a
// native program holds every capability and the loopback exemption).
// RelayTransport tunnels sockets over Wisp v2 to a sockshim relay, which
// opens the real connections and enforces the app's capabilities. Its
// sockets share one session, which survives a lost WebSocket where the
// relay offers session resume (ResumeOptions); RelayOptions.OnStatus and
// Relay.Status tell an app when it is reconnecting, and Relay.Close ends
// the session and its goroutines.
//
// # Wasm
//
// In a browser there are no raw sockets: DefaultTransport is RelayTransport
// for the page's origin + "/wisp/", and DirectTransport fails with
// ErrNotSupported. Control options the relay cannot honour (KeepAlive off
// switched on, NoDelay switched off) make Connect fail with ErrNotSupported
// instead of being ignored. Under Node there is no page origin, so name a
// relay with RelayTransport.
//
// Go's js net/http uses the browser's fetch unless its Transport has a
// dial function: with DialContext set to a Dialer's, it speaks HTTP itself
// over a StreamSocket through the relay (no CORS, any port).
//
// TLS (ConnectWithProtectionLevel, UpgradeToSsl) runs in Go in the browser
// too, so the relay only sees ciphertext; the wasm build carries its own
// root CAs (golang.org/x/crypto/x509roots/fallback) because the browser's
// store is not reachable from wasm. ProtectionLevelRelayTls is the one
// exception, there and natively: the relay does the TLS and sees the
// plaintext (relaytls.go).
//
// MessageWebSocket and StreamWebSocket use the browser's own WebSocket when
// it can make the request as asked. When the request needs what a browser
// WebSocket cannot do (custom headers, credentials, a client certificate,
// custom roots or ignorable certificate errors, or a non-default
// transport), sockshim runs its own RFC 6455 client over a StreamSocket
// tunnelled through the relay, so the API behaves the same. On the
// browser's WebSocket: OnClosed reports the browser's close event (code,
// reason, wasClean); Close accepts only the codes a browser lets script
// send (1000, 3000-4999); PartialMessage mode delivers whole messages (the
// browser has nothing else); Send waits while the browser's bufferedAmount
// is over OutboundBufferSizeInBytes (default 1 MiB); and a refused
// handshake's status is WebErrorUnknown, since the browser hides it,
// unless SetProbeRefusedHandshake opted in to a fetch that can read one.
// The README's browser support table lists where Chromium and Firefox
// differ.
package shim
