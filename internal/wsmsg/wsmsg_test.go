//go:build !js

package wsmsg_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/wsmsg"
)

// TestReadReusesBuffer: messages of every size class arrive whole and in
// order, the buffer is reused, and growing past the first size works.
func TestReadReusesBuffer(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 5, 32<<10 + 5, 32<<10 + 64, 32<<10 + 65, 200 << 10, 3}
	msg := func(i, n int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, n) }
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for i, n := range sizes {
			if err := c.Write(r.Context(), websocket.MessageBinary, msg(i, n)); err != nil {
				return
			}
		}
		c.Write(r.Context(), websocket.MessageText, []byte("end"))
		c.Close(websocket.StatusNormalClosure, "")
	}))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	r := wsmsg.NewReader(c)
	for i, n := range sizes {
		typ, b, err := r.Read(ctx)
		if err != nil || typ != websocket.MessageBinary || !bytes.Equal(b, msg(i, n)) {
			t.Fatalf("message %d (%d bytes): typ %v, %d bytes, err %v", i, n, typ, len(b), err)
		}
	}
	typ, b, err := r.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(b) != "end" {
		t.Fatalf("text message: %v %q %v", typ, b, err)
	}
	if _, _, err := r.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after close: %v", err)
	}
}

// TestTake: a taken message stays intact while later messages are read, and
// its buffer is not the one the next read uses.
func TestTake(t *testing.T) {
	t.Parallel()
	big := func(c byte) []byte { return bytes.Repeat([]byte{c}, wsmsg.TakeMin+10) }
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for _, b := range []byte("abc") {
			c.Write(r.Context(), websocket.MessageBinary, big(b))
		}
		c.Close(websocket.StatusNormalClosure, "")
	}))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	r := wsmsg.NewReader(c)
	_, first, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	owner := r.Take()
	if &(*owner)[0] != &first[0] {
		t.Fatal("Take did not hand over the buffer the message is in")
	}
	for _, want := range []byte("bc") {
		_, b, err := r.Read(ctx)
		if err != nil || !bytes.Equal(b, big(want)) {
			t.Fatalf("message %q: %d bytes, %v", want, len(b), err)
		}
		if &b[0] == &first[0] {
			t.Fatal("a later read reused the taken buffer")
		}
	}
	if !bytes.Equal(first, big('a')) {
		t.Fatal("the taken message changed under later reads")
	}
	wsmsg.Put(owner)
}

// BenchmarkRead: one 32 KiB DATA-sized message per op, allocations included.
func BenchmarkRead(b *testing.B) {
	payload := make([]byte, 32<<10+5)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			if err := c.Write(r.Context(), websocket.MessageBinary, payload); err != nil {
				return
			}
		}
	}))
	defer hs.Close()
	for _, reuse := range []bool{false, true} {
		name := "ConnRead"
		if reuse {
			name = "wsmsg"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			c.SetReadLimit(1 << 20)
			r := wsmsg.NewReader(c)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				if reuse {
					_, _, err = r.Read(ctx)
				} else {
					_, _, err = c.Read(ctx)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
