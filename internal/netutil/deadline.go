// Package netutil holds small pieces shared by sockshim's net.Conn
// implementations.
package netutil

import (
	"sync"
	"time"
)

// Deadline is a settable deadline whose Wait channel closes when it passes,
// the same shape as net.Pipe's: Set may be called at any time, from any
// goroutine, and wakes waiters when the deadline moves into the past.
type Deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

// NewDeadline returns a deadline that is not set.
func NewDeadline() *Deadline { return &Deadline{cancel: make(chan struct{})} }

// Set sets the deadline; the zero time clears it.
func (d *Deadline) Set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for its close
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		c := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(c) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// Wait returns a channel that is closed when the deadline passes.
func (d *Deadline) Wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

// Expired reports whether the deadline has passed.
func (d *Deadline) Expired() bool { return isClosed(d.Wait()) }

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
