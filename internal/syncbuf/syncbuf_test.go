package syncbuf_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/sockshim/sockshim/internal/syncbuf"
)

func TestConcurrentWrites(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("ab"))
			}
		}()
	}
	wg.Wait()
	if s := b.String(); s != strings.Repeat("ab", 800) {
		t.Fatalf("got %d bytes, want 1600 in whole writes", len(s))
	}
}

func TestMaxDropsTheRestButReportsItWritten(t *testing.T) {
	b := syncbuf.Buffer{Max: 5}
	for _, w := range []string{"abc", "defg", "hi"} {
		if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	if s := b.String(); s != "abcde" {
		t.Fatalf("kept %q, want \"abcde\"", s)
	}
	c := b.Bytes()
	c[0] = 'X'
	if b.String() != "abcde" {
		t.Fatal("Bytes did not return a copy")
	}
}
