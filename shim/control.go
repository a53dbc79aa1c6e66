package shim

import (
	"slices"
	"sync"
)

// option is one setting of a Control object, safe to read and write from
// several goroutines. Its zero value holds T's zero value, so a Control's
// zero value is its defaults when each field's zero value is.
type option[T any] struct {
	mu sync.Mutex
	v  T
}

func (o *option[T]) get() T {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.v
}

func (o *option[T]) set(v T) {
	o.mu.Lock()
	o.v = v
	o.mu.Unlock()
}

// listOption is a list setting: callers never share the stored slice.
type listOption[E any] struct{ option[[]E] }

func (o *listOption[E]) get() []E  { return slices.Clone(o.option.get()) }
func (o *listOption[E]) set(v []E) { o.option.set(slices.Clone(v)) }
