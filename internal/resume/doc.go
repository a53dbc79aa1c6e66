// Package resume makes a Wisp session survive a lost WebSocket: a Conn sits
// between the session and its WebSocket (a Link), numbers the packets the
// session sends, keeps those the peer has not acknowledged in a bounded
// replay buffer, and on a new Link replays from the peer's position, so no
// byte is lost or repeated in either direction. Tokens is the relay's table
// of resume tokens (single use, rotated on every resume, bound to the
// session's app and origin).
//
// The wire (sockshim extension 0x5E, ACK 0xA0, SKIP 0xA1, RESUME_TOKEN
// 0xA2) is in docs/PROTOCOL.md, "Session resume". Only sessions that
// negotiated the extension have a Conn; plain Wisp sessions pay nothing.
//
// Counting: every packet either side sends after the handshake is a
// session message and is numbered from 1, except ACK and SKIP. Datagrams
// (DATA on UDP streams, DATAGRAM, DATAGRAM_TO) are numbered but never kept:
// a replay sends SKIP(n) where they were, and the receiver counts them lost.
// Datagrams written while no link is up are dropped and counted.
//
// Bounds: the buffer (default 2 MiB) never holds more than Options.Buffer
// bytes, padding included, and allocates at most that; DATA may use seven
// eighths of it, control packets all of it. A full buffer blocks Write.
// Write copies a packet into the buffer's ring; WriteOwnedUntil keeps a
// packet the writer made for it (a queued frame) as it is, charged its
// capacity against the same bound, so the hot path copies each byte once.
package resume
