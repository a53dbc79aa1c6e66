// Package policy is sockshim's one decision pipeline for network access: every
// outbound stream, datagram destination, listener bind, accepted peer and ICE
// candidate goes through an Engine. It follows the WinRT network isolation
// model: capabilities per app, loopback only with an explicit exemption.
//
// The pipeline, in order, each step able to deny with a typed Reason:
//
//	app and capabilities -> port 1-65535 -> strict parse and normalise (Normalize)
//	-> name rules (localhost, metadata names, Engine.DenyNames)
//	-> port rules (Engine.Ports; 25 denied by default)
//	-> resolve with the pure-Go resolver and a timeout, fail closed
//	-> classify every answer after unmapping (Classify) -> relay self (Engine.Self)
//	-> capability check per op; a name with mixed answers is denied.
//
// Callers dial only the addresses in the returned Target, never the name
// again (that would re-resolve and open a DNS rebinding hole): DialTarget does
// so, with Control as a second gate on every socket it opens. Each UDP
// datagram's destination is checked with CheckAddr.
//
// See docs/SECURITY.md for the threat model.
//
// # Wasm
//
// The package compiles for GOOS=js GOARCH=wasm (the browser shim uses it for
// local checks); there the default resolver and dialer have no network, so
// Check on a name and DialTarget fail closed.
package policy
