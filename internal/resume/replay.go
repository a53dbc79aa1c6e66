package resume

// replayBuf holds the numbered messages the peer has not acknowledged, in
// one byte ring that grows by doubling up to max and never past it. A
// message is stored contiguously; when it does not fit before the end of
// the ring, the gap left there is padding charged to the message (it is
// freed with it), so used counts every byte the ring cannot hand out.
type replayBuf struct {
	max   int
	data  []byte
	tail  int // where the next message goes
	used  int // bytes held, padding included
	ents  []entry
	first int // index of the oldest entry in ents
}

type entry struct {
	seq    uint64
	off, n int
	pad    int // padding after the message, up to the ring's end (a wrap)
}

func newReplayBuf(max int) *replayBuf { return &replayBuf{max: max} }

func (r *replayBuf) len() int { return len(r.ents) - r.first }

// place returns where n bytes would go and whether they wrap to the start,
// or ok false when they do not fit in the ring as it is.
func (r *replayBuf) place(n int) (off int, wrap, ok bool) {
	size := len(r.data)
	if r.len() == 0 {
		return 0, false, n <= size
	}
	h := r.ents[r.first].off
	if h < r.tail { // held: [h, tail); free: [tail, size) and [0, h)
		if r.tail+n <= size {
			return r.tail, false, true
		}
		return 0, true, n <= h
	}
	// wrapped, held: [h, size) and [0, tail); free: [tail, h)
	return r.tail, false, r.tail+n <= h
}

// fits reports whether n more bytes fit under limit (<= max), growing the
// ring if that makes room.
func (r *replayBuf) fits(n, limit int) bool {
	if r.used+n > limit {
		return false
	}
	if _, _, ok := r.place(n); ok {
		return true
	}
	if len(r.data) >= r.max {
		return false
	}
	r.grow(r.used + n)
	_, _, ok := r.place(n)
	return ok
}

// grow reallocates the ring to at least need bytes (doubling, at most max)
// and packs the entries at its start.
func (r *replayBuf) grow(need int) {
	size := max(len(r.data)*2, 64<<10, need)
	size = min(size, r.max)
	nd := make([]byte, size)
	off := 0
	live := r.ents[r.first:]
	for i := range live {
		e := &live[i]
		copy(nd[off:], r.data[e.off:e.off+e.n])
		e.off, e.pad = off, 0
		off += e.n
	}
	r.ents = append(r.ents[:0], live...)
	r.first = 0
	r.data, r.tail, r.used = nd, off, off
}

// push stores b as message seq; fits must have said yes.
func (r *replayBuf) push(seq uint64, b []byte) {
	off, wrap, ok := r.place(len(b))
	if !ok {
		panic("resume: replay buffer push without room")
	}
	if wrap {
		last := &r.ents[len(r.ents)-1]
		last.pad = len(r.data) - r.tail
		r.used += last.pad
	}
	copy(r.data[off:], b)
	r.ents = append(r.ents, entry{seq: seq, off: off, n: len(b)})
	r.tail = off + len(b)
	r.used += len(b)
}

// release drops every entry with seq <= upTo and returns the bytes freed.
func (r *replayBuf) release(upTo uint64) int {
	freed := 0
	for r.len() > 0 && r.ents[r.first].seq <= upTo {
		e := r.ents[r.first]
		freed += e.pad + e.n
		r.first++
	}
	r.used -= freed
	if r.len() == 0 {
		r.ents, r.first, r.tail, r.used = r.ents[:0], 0, 0, 0
	} else if r.first > 1024 && r.first > len(r.ents)/2 {
		r.ents = append(r.ents[:0], r.ents[r.first:]...)
		r.first = 0
	}
	return freed
}

// from calls fn for every entry with seq > after, oldest first.
func (r *replayBuf) from(after uint64, fn func(seq uint64, b []byte) error) error {
	for _, e := range r.ents[r.first:] {
		if e.seq <= after {
			continue
		}
		if err := fn(e.seq, r.data[e.off:e.off+e.n]); err != nil {
			return err
		}
	}
	return nil
}
