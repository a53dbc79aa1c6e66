// Package rfc6455 is a WebSocket client (RFC 6455) over any net.Conn, with
// one job: the browser build of shim needs it, because the browser's
// WebSocket cannot send custom headers, credentials or client
// certificates, and coder/websocket's js build can only wrap that
// WebSocket; such requests run over a tunnelled StreamSocket instead.
//
// It speaks the base protocol only (no extensions), which is all a client
// must. It checks what it reads strictly: reserved bits, masked or
// fragmented control frames, control frames over 125 bytes, unknown
// opcodes and continuations out of place close the connection with 1002;
// a message over the read limit with 1009. Text payloads are not checked
// for UTF-8 here: the caller decides (shim closes with 1007).
package rfc6455
