package resume

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"sync"
	"time"

	"github.com/sockshim/sockshim/internal/wisp"
)

// Token is a resume token: 128 bits from crypto/rand.
type Token [wisp.TokenLen]byte

// NewToken returns a fresh random token.
func NewToken() Token {
	var t Token
	rand.Read(t[:]) // never fails (crypto/rand panics instead)
	return t
}

// Binding is what a token is bound to: the session's app and origin. A
// resume must present the same ones.
type Binding struct {
	App    string // app id ("" for an anonymous app)
	Origin string // the Origin header ("" when none was sent)
	NoOrig bool   // no Origin header at all
}

// Why a token was refused; each maps to a close reason (Reason).
var (
	ErrUnknownToken = errors.New("resume: unknown token")
	ErrTokenUsed    = errors.New("resume: token already used")
	ErrExpired      = errors.New("resume: resume window expired")
	ErrBinding      = errors.New("resume: token presented by another app or origin")
)

// Reason is the Wisp close reason for a refusal error.
func Reason(err error) wisp.CloseReason {
	switch {
	case errors.Is(err, ErrTokenUsed):
		return wisp.ReasonResumeUsed
	case errors.Is(err, ErrExpired):
		return wisp.ReasonResumeExpired
	case errors.Is(err, ErrBinding):
		return wisp.ReasonAuthBad
	}
	return wisp.ReasonResumeUnknown
}

// Tokens maps live tokens to sessions of type T. Tokens are keyed by their
// SHA-256, so a lookup's timing says nothing about a token's bytes. A
// redeemed token is replaced by a new one (single use, rotated on every
// resume); used and expired tokens are remembered for TTL so a late client
// is told which, not just "unknown".
//
// A redeemed token stays pending until Confirm: the link that carried its
// replacement to the client may have been lost before the client read it,
// and that client can only present the token it has. Redeeming a pending
// token again replaces the replacement (which the client never had); once
// the client was heard on the resumed link (Confirm), or presented the
// replacement, the pending token is used for good.
type Tokens[T any] struct {
	TTL time.Duration // how long refused tokens are remembered; default 2 min

	mu      sync.Mutex
	live    map[[32]byte]*tokenEntry[T]
	pending map[[32]byte]*tokenEntry[T]
	tombs   map[[32]byte]tomb
	now     func() time.Time // tests
}

type tokenEntry[T any] struct {
	v       T
	b       Binding
	cur     Token // the live token
	pend    Token // the redeemed one not yet confirmed, if hasPend
	hasPend bool
}

type tomb struct {
	err   error
	until time.Time
}

func key(t Token) [32]byte { return sha256.Sum256(t[:]) }

func (ts *Tokens[T]) init() {
	if ts.live == nil {
		ts.live, ts.pending, ts.tombs = map[[32]byte]*tokenEntry[T]{}, map[[32]byte]*tokenEntry[T]{}, map[[32]byte]tomb{}
	}
	if ts.now == nil {
		ts.now = time.Now
	}
}

func (ts *Tokens[T]) ttl() time.Duration {
	if ts.TTL > 0 {
		return ts.TTL
	}
	return 2 * time.Minute
}

// Issue registers v under a new token.
func (ts *Tokens[T]) Issue(v T, b Binding) Token {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.init()
	t := NewToken()
	ts.live[key(t)] = &tokenEntry[T]{v: v, b: b, cur: t}
	ts.sweepLocked()
	return t
}

// Redeem checks t against b and, when it is live (or pending) and bound to
// b, returns its session with the token that replaces it; t stays pending
// (see Tokens) until Confirm. A binding mismatch leaves the token as it was
// (the rightful client may still resume).
func (ts *Tokens[T]) Redeem(t Token, b Binding) (T, Token, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.init()
	var zero T
	k := key(t)
	e := ts.live[k]
	fromPending := false
	if e == nil {
		e, fromPending = ts.pending[k], true
	}
	if e == nil {
		if tb, ok := ts.tombs[k]; ok && ts.now().Before(tb.until) {
			return zero, Token{}, tb.err
		}
		return zero, Token{}, ErrUnknownToken
	}
	if subtle.ConstantTimeCompare([]byte(e.b.App), []byte(b.App)) != 1 ||
		e.b.Origin != b.Origin || e.b.NoOrig != b.NoOrig {
		return zero, Token{}, ErrBinding
	}
	if fromPending {
		// The client never had the token issued last time: it goes.
		ts.bury(e.cur, ErrTokenUsed)
	} else {
		delete(ts.live, k)
		if e.hasPend {
			ts.bury(e.pend, ErrTokenUsed) // the client has its replacement
		}
		e.pend, e.hasPend = t, true
		ts.pending[k] = e
	}
	nt := NewToken()
	e.cur = nt
	ts.live[key(nt)] = e
	return e.v, nt, nil
}

// Confirm makes the token that cur replaced used for good: the client was
// heard on the link that carried cur.
func (ts *Tokens[T]) Confirm(cur Token) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.init()
	if e := ts.live[key(cur)]; e != nil && e.hasPend {
		ts.bury(e.pend, ErrTokenUsed)
		e.hasPend = false
	}
}

// bury removes t from the live and pending tokens and remembers why it
// went (why nil: forgotten, as unknown).
func (ts *Tokens[T]) bury(t Token, why error) {
	k := key(t)
	delete(ts.live, k)
	delete(ts.pending, k)
	if why != nil && why != ErrUnknownToken {
		ts.tombs[k] = tomb{err: why, until: ts.now().Add(ts.ttl())}
	}
}

// Retire removes t, remembering why (ErrExpired, or ErrUnknownToken for a
// session that simply ended), and the token it replaced if that is still
// pending (as used).
func (ts *Tokens[T]) Retire(t Token, why error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.init()
	e, ok := ts.live[key(t)]
	if !ok {
		return
	}
	if e.hasPend {
		ts.bury(e.pend, ErrTokenUsed) // it was used, as before it was pending
		e.hasPend = false
	}
	ts.bury(t, why)
}

// Len is the number of live tokens.
func (ts *Tokens[T]) Len() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.live)
}

func (ts *Tokens[T]) sweepLocked() {
	now := ts.now()
	for k, tb := range ts.tombs {
		if !now.Before(tb.until) {
			delete(ts.tombs, k)
		}
	}
}
