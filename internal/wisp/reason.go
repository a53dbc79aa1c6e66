package wisp

import "fmt"

// CloseReason is the one-byte reason of a CLOSE packet.
type CloseReason uint8

// Close reasons defined by the Wisp specification, and sockshim's own in the
// extension range (sent only to peers that advertised ExtSockshim).
const (
	ReasonUnknown       CloseReason = 0x01 // unspecified
	ReasonVoluntary     CloseReason = 0x02 // orderly close
	ReasonNetworkError  CloseReason = 0x03 // unexpected close: network error
	ReasonIncompatible  CloseReason = 0x04 // incompatible extensions (handshake)
	ReasonInvalid       CloseReason = 0x41 // invalid destination or packet
	ReasonUnreachable   CloseReason = 0x42 // destination unreachable or does not resolve
	ReasonTimeout       CloseReason = 0x43 // connect timed out
	ReasonRefused       CloseReason = 0x44 // connection refused
	ReasonDataTimeout   CloseReason = 0x47 // TCP data transfer timed out
	ReasonBlocked       CloseReason = 0x48 // denied by policy
	ReasonThrottled     CloseReason = 0x49 // over a limit
	ReasonClientError   CloseReason = 0x81 // client-side failure
	ReasonAuthBad       CloseReason = 0xC0 // wrong credential
	ReasonAuthSignature CloseReason = 0xC1 // bad signature
	ReasonAuthRequired  CloseReason = 0xC2 // credential required but missing

	// ReasonHostNotFound (sockshim): the host name does not resolve. Plain
	// Wisp clients get ReasonUnreachable instead.
	ReasonHostNotFound CloseReason = 0xD0
	// ReasonReset (sockshim): the destination reset the connection.
	ReasonReset CloseReason = 0xD1
	// ReasonNetUnreachable (sockshim): no route to the destination network.
	ReasonNetUnreachable CloseReason = 0xD2
	// ReasonAddrInUse (sockshim, ExtListen): the listener's address and port
	// are taken. Sent only on a listener id.
	ReasonAddrInUse CloseReason = 0xD3
	// ReasonShutdown (sockshim): the relay is shutting down. Plain Wisp
	// clients get ReasonNetworkError instead.
	ReasonShutdown CloseReason = 0xD4
)

var reasonNames = map[CloseReason]string{
	ReasonUnknown:        "unknown",
	ReasonVoluntary:      "voluntary close",
	ReasonNetworkError:   "network error",
	ReasonIncompatible:   "incompatible extensions",
	ReasonInvalid:        "invalid destination",
	ReasonUnreachable:    "destination unreachable",
	ReasonTimeout:        "connection timed out",
	ReasonRefused:        "connection refused",
	ReasonDataTimeout:    "data transfer timed out",
	ReasonBlocked:        "blocked by policy",
	ReasonThrottled:      "throttled",
	ReasonClientError:    "client error",
	ReasonAuthBad:        "authentication failed",
	ReasonAuthSignature:  "invalid signature",
	ReasonAuthRequired:   "authentication required",
	ReasonHostNotFound:   "host not found",
	ReasonReset:          "connection reset by peer",
	ReasonNetUnreachable: "network unreachable",
	ReasonAddrInUse:      "address already in use",
	ReasonShutdown:       "relay shutting down",
	ReasonTLSFailed:      "relay TLS failed",
}

func (r CloseReason) String() string {
	if s, ok := reasonNames[r]; ok {
		return fmt.Sprintf("%s (0x%02x)", s, uint8(r))
	}
	return fmt.Sprintf("CloseReason(0x%02x)", uint8(r))
}

// Known reports whether r is a reason this package defines.
func (r CloseReason) Known() bool { _, ok := reasonNames[r]; return ok }

// CloseError is a stream closed by the peer with a reason other than
// ReasonVoluntary.
type CloseError struct{ Reason CloseReason }

func (e *CloseError) Error() string { return "wisp: stream closed: " + e.Reason.String() }
