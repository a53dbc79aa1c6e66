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
// # Transports
//
// Natively, sockets use DirectTransport: operating-system sockets, with the
// same capability policy the relay enforces applied locally (by default a
// native program holds every capability and the loopback exemption).
// RelayTransport tunnels sockets over Wisp v2 to a sockshim relay, which
// opens the real connections and enforces the app's capabilities.
//
// # Wasm
//
// In a browser there are no raw sockets: DefaultTransport is RelayTransport
// for the page's origin + "/wisp/", and DirectTransport fails with
// ErrNotSupported. Control options the relay cannot honour (KeepAlive off
// switched on, NoDelay switched off) make Connect fail with ErrNotSupported
// instead of being ignored. Under Node there is no page origin, so name a
// relay with RelayTransport.
package shim
