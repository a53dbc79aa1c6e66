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
	// single use, once the client was heard on the resumed link
	ts.Confirm(t2)
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
	if len(ts.tombs) != 0 || len(ts.pending) != 0 {
		t.Fatalf("%d tombstones kept past TTL, %d tokens pending", len(ts.tombs), len(ts.pending))
	}
}

// TestTokenLostReplacement: a client whose link died before it read the
// replacement token resumes again with the old one, which then replaces
// the lost replacement; once the client was heard (Confirm) or presented
// its replacement, the old token is used for good.
func TestTokenLostReplacement(t *testing.T) {
	t.Parallel()
	var ts Tokens[string]
	bind := Binding{App: "app", Origin: "https://a.example"}
	t1 := ts.Issue("s", bind)
	_, t2, err := ts.Redeem(t1, bind)
	if err != nil {
		t.Fatal(err)
	}
	// RESUME_TOKEN(t2) was lost with the link: the client still has t1.
	v, t3, err := ts.Redeem(t1, bind)
	if err != nil || v != "s" || t3 == t2 || t3 == t1 {
		t.Fatalf("the old token after a lost replacement: %q, %v", v, err)
	}
	if _, _, err := ts.Redeem(t2, bind); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("the lost replacement: %v, want used", err)
	}
	ts.Confirm(t3)
	if _, _, err := ts.Redeem(t1, bind); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("the old token once the client was heard: %v, want used", err)
	}
	// Presenting the replacement also settles the one before it.
	_, t4, err := ts.Redeem(t3, bind)
	if err != nil {
		t.Fatal(err)
	}
	if _, t5, err := ts.Redeem(t4, bind); err != nil {
		t.Fatal(err)
	} else if _, _, err := ts.Redeem(t3, bind); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("a token whose replacement was presented: %v, want used", err)
	} else {
		ts.Retire(t5, nil)
		if _, _, err := ts.Redeem(t4, bind); !errors.Is(err, ErrTokenUsed) {
			t.Fatalf("the pending token of a retired session: %v, want used", err)
		}
	}
	if ts.Len() != 0 || len(ts.pending) != 0 {
		t.Fatalf("after the session ended: %d live, %d pending", ts.Len(), len(ts.pending))
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
