// Package syncbuf is a bytes.Buffer that several goroutines may write to,
// for collecting a child process's output or a proxy's traffic.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is safe for concurrent use. Its zero value is empty and keeps
// everything; with Max set, writes past Max bytes are dropped (and still
// reported as written, so a child process never blocks on its log).
type Buffer struct {
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	n := len(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Max > 0 {
		p = p[:min(n, max(0, b.Max-b.b.Len()))]
	}
	b.b.Write(p)
	return n, nil
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Bytes returns a copy of what was written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}
