package wisp

import (
	"errors"
	"testing"
)

func TestPingRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		append func([]byte, uint32) []byte
		typ    Type
	}{{"ping", AppendPing, TypePing}, {"pong", AppendPong, TypePong}} {
		for _, nonce := range []uint32{0, 1, 0xdeadbeef, ^uint32(0)} {
			b := tc.append(nil, nonce)
			p, err := Parse(b)
			if err != nil || p.Type != tc.typ || p.StreamID != 0 {
				t.Fatalf("%s %d: Parse = %+v, %v", tc.name, nonce, p, err)
			}
			got, err := ParsePing(p.Data)
			if err != nil || got != nonce {
				t.Errorf("%s: ParsePing = %d, %v; want %d", tc.name, got, err, nonce)
			}
		}
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, {1, 2, 3, 4, 5}} {
		if _, err := ParsePing(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePing(%x) = %v, want ErrMalformed", bad, err)
		}
	}
}
