package resume

import (
	"errors"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/wisp"
)

func TestTokenRules(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	ts := &Tokens[string]{TTL: time.Minute, now: func() time.Time { return now }}
	bind := Binding{App: "app", Origin: "https://a.example"}
	t1 := ts.Issue("s1", bind)

	// wrong token
	if _, _, err := ts.Redeem(NewToken(), bind); !errors.Is(err, ErrUnknownToken) || Reason(err) != wisp.ReasonResumeUnknown {
		t.Fatalf("random token: %v", err)
	}
	// right token, wrong app or origin: refused, and the token stays good
	for _, b := range []Binding{{App: "other", Origin: bind.Origin}, {App: "app", Origin: "https://evil.example"}, {App: "app", NoOrig: true}} {
		if _, _, err := ts.Redeem(t1, b); !errors.Is(err, ErrBinding) || Reason(err) != wisp.ReasonAuthBad {
			t.Fatalf("binding %+v: %v", b, err)
		}
	}
	v, t2, err := ts.Redeem(t1, bind)
	if err != nil || v != "s1" {
		t.Fatalf("redeem: %q, %v", v, err)
	}
	if t2 == t1 {
		t.Fatal("token not rotated")
	}
	// single use
	if _, _, err := ts.Redeem(t1, bind); !errors.Is(err, ErrTokenUsed) || Reason(err) != wisp.ReasonResumeUsed {
		t.Fatalf("replayed token: %v", err)
	}
	// the new one works once
	if _, t3, err := ts.Redeem(t2, bind); err != nil {
		t.Fatalf("rotated token: %v", err)
	} else {
		ts.Retire(t3, ErrExpired)
		if _, _, err := ts.Redeem(t3, bind); !errors.Is(err, ErrExpired) || Reason(err) != wisp.ReasonResumeExpired {
			t.Fatalf("expired token: %v", err)
		}
	}
	if ts.Len() != 0 {
		t.Fatalf("%d live tokens after retiring the only session", ts.Len())
	}
	// tombstones are forgotten after TTL: then the token is just unknown
	now = now.Add(2 * time.Minute)
	ts.Issue("s2", bind) // sweeps
	if _, _, err := ts.Redeem(t1, bind); !errors.Is(err, ErrUnknownToken) {
		t.Fatalf("old token after TTL: %v", err)
	}
	if len(ts.tombs) != 0 {
		t.Fatalf("%d tombstones kept past TTL", len(ts.tombs))
	}
}

func TestTokensRandom(t *testing.T) {
	t.Parallel()
	seen := map[Token]bool{}
	var zero Token
	for range 10000 {
		tk := NewToken()
		if tk == zero || seen[tk] {
			t.Fatalf("token repeated or zero: %x", tk)
		}
		seen[tk] = true
	}
	if len(zero) < 16 {
		t.Fatalf("token of %d bytes, want at least 16", len(zero))
	}
}
