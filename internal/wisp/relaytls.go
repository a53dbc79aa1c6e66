package wisp

// ExtRelayTLS (sockshim) is listed by a relay that does TLS to a stream's
// destination when the client asks for it with StreamTLS, and by clients
// that may ask. Its record is empty on both sides. Both relays list it: the
// native one dials with crypto/tls, the edge one with connect()'s
// secureTransport "on".
const ExtRelayTLS ExtensionID = 0x5D

// StreamTLS (sockshim, ExtRelayTLS on both sides) is a CONNECT stream type:
// TCP to host:port with TLS done by the relay, the server verified for host
// (a name, or an IP literal against the certificate's IP addresses) with
// the relay's roots. DATA is the plaintext, which the relay sees: the
// default, and the right choice almost always, stays TLS in the client over
// StreamTCP, end to end.
const StreamTLS StreamType = 0x53

// ReasonTLSFailed (sockshim) closes a StreamTLS stream whose TCP connection
// opened but whose TLS handshake with the destination failed at the relay:
// its certificate was refused (untrusted, wrong name, expired) or it does
// not speak TLS. The relay does not say which.
const ReasonTLSFailed CloseReason = 0xD5
