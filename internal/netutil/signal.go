package netutil

import "sync"

// Signal is a level-triggered wake-up: Notify never blocks and a waiter
// that was not waiting yet still sees it.
type Signal chan struct{}

// NewSignal returns a Signal.
func NewSignal() Signal { return make(Signal, 1) }

// Notify wakes one waiter, or the next one to wait.
func (s Signal) Notify() {
	select {
	case s <- struct{}{}:
	default:
	}
}

// Once closes a channel exactly once.
type Once struct {
	once sync.Once
	C    chan struct{}
}

// NewOnce returns an open Once.
func NewOnce() *Once { return &Once{C: make(chan struct{})} }

// Close closes C; later calls do nothing.
func (o *Once) Close() { o.once.Do(func() { close(o.C) }) }

// Done reports whether C is closed.
func (o *Once) Done() bool { return isClosed(o.C) }
