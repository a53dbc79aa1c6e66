package policy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
)

// Reason names why a decision was made. It is for the operator's logs and
// metrics; what a client may learn is only what errors.Is tells about an
// *Error (see Error).
type Reason uint8

const (
	ReasonUnknown             Reason = iota
	ReasonAllowed                    // every check passed
	ReasonNoApp                      // no registered app
	ReasonNoCapability               // the app lacks the capability for this address class and op
	ReasonLoopback                   // loopback without the app's loopback exemption
	ReasonPrivate                    // private network without privateNetworkClientServer
	ReasonNotUnicast                 // special address: unspecified, multicast, broadcast, reserved, documentation, CGNAT...
	ReasonBadHost                    // the host failed strict parsing
	ReasonBadPort                    // port 0 where a destination is needed
	ReasonPortDenied                 // port rules deny the port
	ReasonHostNotFound               // the name does not exist (NXDOMAIN) or has no address
	ReasonResolveTimeout             // resolution did not finish in time
	ReasonResolveFailed              // resolution failed otherwise (SERVFAIL, refused, canceled)
	ReasonMixedAnswers               // some answers allowed, others denied
	ReasonSelf                       // one of the relay's own listening addresses
	ReasonMetadata                   // a cloud metadata address or name
	ReasonNameDenied                 // an operator name rule denies the name
	ReasonBadOp                      // OpUnknown or a network that is not TCP or UDP
	ReasonListenNotConfigured        // a listener for an app without listen rules
	ReasonListenAddress              // a listener on an address the listen rules do not list
	ReasonListenPort                 // a listener on a port the listen rules do not list

	numReasons
)

var reasonNames = [...]string{
	ReasonUnknown:        "unknown",
	ReasonAllowed:        "allowed",
	ReasonNoApp:          "no_app",
	ReasonNoCapability:   "no_capability",
	ReasonLoopback:       "loopback_not_exempt",
	ReasonPrivate:        "private_network",
	ReasonNotUnicast:     "special_address",
	ReasonBadHost:        "bad_host",
	ReasonBadPort:        "bad_port",
	ReasonPortDenied:     "port_denied",
	ReasonHostNotFound:   "host_not_found",
	ReasonResolveTimeout: "resolve_timeout",
	ReasonResolveFailed:  "resolve_failed",
	ReasonMixedAnswers:   "mixed_answers",
	ReasonSelf:           "relay_self",
	ReasonMetadata:       "metadata",
	ReasonNameDenied:     "name_denied",
	ReasonBadOp:          "bad_op",

	ReasonListenNotConfigured: "listen_not_configured",
	ReasonListenAddress:       "listen_address_not_allowed",
	ReasonListenPort:          "listen_port_not_allowed",
}

// String returns a stable snake_case name, suitable as a metrics label.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// ErrDenied is wrapped by every *Error that denies access.
var ErrDenied = errors.New("access denied by network policy")

// ErrHostNotFound is wrapped by an *Error for a name that does not resolve,
// when saying so reveals nothing (see Error).
var ErrHostNotFound = errors.New("host not found")

// ErrInvalid is wrapped by an *Error for a malformed host or port.
var ErrInvalid = errors.New("invalid destination")

// Error is a decision against access.
//
// It must not tell a client whether a denied name exists or what it points
// at. So for a host name (not an IP literal) whose denial depends on DNS (it
// does not exist, timed out, or resolves to an address the app may not
// reach), an app that cannot reach private networks and loopback (it lacks
// privateNetworkClientServer or the loopback exemption) gets the same error
// in every case: Unwrap returns ErrDenied, errors.Is matches ErrHostNotFound
// too (the name has no address the app may reach, so a name that does not
// exist reads as not found), and Error() omits the reason.
// Otherwise Unwrap returns ErrHostNotFound for a name that does not exist,
// ErrInvalid for a malformed host or port, and ErrDenied for the rest.
//
// Reason is always the precise reason, for logs and metrics: turn an Error
// into a client-visible code with errors.Is only, never from Reason.
type Error struct {
	Op     Op
	Reason Reason
	Host   string // as the client gave it
	Port   uint16

	concealed bool
}

func (e *Error) Error() string {
	hp := net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
	if e.Reason == ReasonBadHost {
		hp = quoteHost(e.Host) + ":" + strconv.Itoa(int(e.Port))
	}
	if e.concealed {
		return fmt.Sprintf("%s %s: %v", e.Op, hp, e.Unwrap())
	}
	return fmt.Sprintf("%s %s: %v (%s)", e.Op, hp, e.Unwrap(), e.Reason)
}

func (e *Error) Unwrap() error {
	if e.concealed {
		return ErrDenied
	}
	switch e.Reason {
	case ReasonHostNotFound:
		return ErrHostNotFound
	case ReasonBadHost, ReasonBadPort:
		return ErrInvalid
	}
	return ErrDenied
}

// Is makes a concealed denial match ErrHostNotFound as well as ErrDenied.
func (e *Error) Is(target error) bool { return e.concealed && target == ErrHostNotFound }

// Timeout reports whether resolution timed out (and saying so reveals
// nothing), so that *Error satisfies net.Error.
func (e *Error) Timeout() bool { return e.Reason == ReasonResolveTimeout && !e.concealed }

// Temporary is false: a policy decision does not change on retry. It exists
// for net.Error.
func (e *Error) Temporary() bool { return false }

var _ net.Error = (*Error)(nil)

// Decision is one allow or deny, as reported to Engine.OnDecision.
type Decision struct {
	App    string // App.ID, "" if there was no app
	Op     Op
	Reason Reason
	Host   string     // as the client gave it
	Port   uint16     //
	Addr   netip.Addr // the answer that decided, or the first allowed one; zero if none
	// Gate is true for a denial by the dial-time second gate (Control,
	// DialTarget). Such a denial after an allowed Check means a bug or a
	// tampered Target; allowed gate decisions are not reported.
	Gate bool
}

// Allowed reports whether d allowed access.
func (d Decision) Allowed() bool { return d.Reason == ReasonAllowed }

// LogValue makes a Decision log as a group of attributes with log/slog. It
// includes the resolved address: logs are for the operator.
func (d Decision) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("app", d.App),
		slog.String("op", d.Op.String()),
		slog.Bool("allowed", d.Allowed()),
		slog.String("reason", d.Reason.String()),
		slog.String("host", d.Host),
		slog.Int("port", int(d.Port)),
	}
	if d.Addr.IsValid() {
		attrs = append(attrs, slog.String("addr", d.Addr.String()))
	}
	if d.Gate {
		attrs = append(attrs, slog.Bool("gate", true))
	}
	return slog.GroupValue(attrs...)
}

// Counters counts decisions by reason; safe for concurrent use. Its zero
// value is ready; use it as Engine.OnDecision = c.Record.
type Counters struct {
	n [numReasons]atomic.Uint64
}

// Record counts d.
func (c *Counters) Record(d Decision) {
	if d.Reason < numReasons {
		c.n[d.Reason].Add(1)
	}
}

// Load returns how many decisions had reason r.
func (c *Counters) Load(r Reason) uint64 {
	if r < numReasons {
		return c.n[r].Load()
	}
	return 0
}

// Reasons returns every Reason, in order, for exporting counters with a
// label per reason.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}
