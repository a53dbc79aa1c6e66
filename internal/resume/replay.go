package resume

// replayBuf holds the numbered messages the peer has not acknowledged. Most
// live in one byte ring that grows by doubling and never shrinks; a message
// is stored there contiguously and, when it does not fit before the end of
// the ring, the gap left there is padding charged to the message (it is
// freed with it). A message the writer handed over (pushOwned: its own
// copy, as a queued frame is) is kept as it is, outside the ring, and
// charged its capacity. used counts every byte held, padding and owned
// capacity included; the ring's size plus the owned capacity never exceeds
// max, so neither does the memory the buffer holds.
type replayBuf struct {
	max   int
	data  []byte
	head  int // the oldest ring byte held, while rings > 0
	tail  int // where the next ring message goes
	used  int // bytes held: ring messages, their padding and owned capacity
	owned int // capacity of the owned messages held
	rings int // live entries in the ring
	last  int // index in ents of the newest ring entry, while rings > 0
	ents  []entry
	first int // index of the oldest entry in ents
}

type entry struct {
	seq    uint64
	off, n int
	pad    int    // padding after the message, up to the ring's end (a wrap)
	own    []byte // the message itself when it was handed over; nil in the ring
}

func newReplayBuf(max int) *replayBuf { return &replayBuf{max: max} }

func (r *replayBuf) len() int { return len(r.ents) - r.first }

// bytes is entry e's message.
func (r *replayBuf) bytes(e *entry) []byte {
	if e.own != nil {
		return e.own
	}
	return r.data[e.off : e.off+e.n]
}

// place returns where n bytes would go in the ring and whether they wrap to
// the start, or ok false when they do not fit in the ring as it is.
func (r *replayBuf) place(n int) (off int, wrap, ok bool) {
	size := len(r.data)
	if r.rings == 0 {
		return 0, false, n <= size
	}
	h := r.head
	if h < r.tail { // held: [h, tail); free: [tail, size) and [0, h)
		if r.tail+n <= size {
			return r.tail, false, true
		}
		return 0, true, n <= h
	}
	// wrapped, held: [h, size) and [0, tail); free: [tail, h)
	return r.tail, false, r.tail+n <= h
}

// fits reports whether n more bytes fit in the ring under limit (<= max),
// growing the ring if that makes room.
func (r *replayBuf) fits(n, limit int) bool {
	if r.used+n > limit {
		return false
	}
	if _, _, ok := r.place(n); ok {
		return true
	}
	if len(r.data) >= r.max-r.owned {
		return false
	}
	r.grow(r.used - r.owned + n)
	_, _, ok := r.place(n)
	return ok
}

// fitsOwned reports whether b may be kept as it is under limit (<= max):
// its capacity is charged against both. An empty ring that holds the room
// is dropped (copies grow a new one as they need it): otherwise a ring
// that once grew to max would keep every later frame a copy.
func (r *replayBuf) fitsOwned(b []byte, limit int) bool {
	c := cap(b)
	if r.used+c > limit {
		return false
	}
	if len(r.data)+r.owned+c > r.max && r.rings == 0 {
		r.data, r.head, r.tail = nil, 0, 0
	}
	return len(r.data)+r.owned+c <= r.max
}

// grow reallocates the ring to at least need bytes (doubling, at most what
// the owned messages leave of max) and packs its entries at its start.
func (r *replayBuf) grow(need int) {
	size := max(len(r.data)*2, 64<<10, need)
	size = min(size, r.max-r.owned)
	nd := make([]byte, size)
	off := 0
	live := r.ents[r.first:]
	for i := range live {
		e := &live[i]
		if e.own != nil {
			continue
		}
		copy(nd[off:], r.data[e.off:e.off+e.n])
		e.off, e.pad = off, 0
		off += e.n
	}
	r.ents = append(r.ents[:0], live...)
	r.last -= r.first
	r.first = 0
	r.data, r.head, r.tail, r.used = nd, 0, off, off+r.owned
}

// push copies b into the ring as message seq; fits must have said yes.
func (r *replayBuf) push(seq uint64, b []byte) {
	off, wrap, ok := r.place(len(b))
	if !ok {
		panic("resume: replay buffer push without room")
	}
	if r.rings == 0 {
		r.head = off
	}
	if wrap {
		last := &r.ents[r.last]
		last.pad = len(r.data) - r.tail
		r.used += last.pad
	}
	copy(r.data[off:], b)
	r.last = len(r.ents)
	r.rings++
	r.ents = append(r.ents, entry{seq: seq, off: off, n: len(b)})
	r.tail = off + len(b)
	r.used += len(b)
}

// pushOwned keeps b itself as message seq; fitsOwned must have said yes.
// Nobody may write to b afterwards.
func (r *replayBuf) pushOwned(seq uint64, b []byte) {
	r.ents = append(r.ents, entry{seq: seq, n: len(b), own: b})
	r.owned += cap(b)
	r.used += cap(b)
}

// release drops every entry with seq <= upTo and returns the bytes freed.
// recycle, if not nil, is given the owned messages it drops whose seq is at
// most written (an ACK can come early, while the write still reads one).
func (r *replayBuf) release(upTo uint64, recycle func([]byte), written uint64) int {
	freed := 0
	for r.len() > 0 && r.ents[r.first].seq <= upTo {
		e := &r.ents[r.first]
		if e.own != nil {
			freed += cap(e.own)
			r.owned -= cap(e.own)
			if recycle != nil && e.seq <= written {
				recycle(e.own)
			}
		} else {
			freed += e.pad + e.n
			r.rings--
			r.head = e.off + e.n + e.pad
			if r.head == len(r.data) {
				r.head = 0
			}
		}
		*e = entry{}
		r.first++
	}
	r.used -= freed
	if r.len() == 0 {
		r.ents, r.first, r.head, r.tail, r.used, r.owned, r.rings = r.ents[:0], 0, 0, 0, 0, 0, 0
	} else {
		if r.rings == 0 {
			r.head, r.tail = 0, 0
		}
		if r.first > 1024 && r.first > len(r.ents)/2 {
			r.ents = append(r.ents[:0], r.ents[r.first:]...)
			r.last -= r.first
			r.first = 0
		}
	}
	return freed
}

// from calls fn for every entry with seq > after, oldest first.
func (r *replayBuf) from(after uint64, fn func(seq uint64, b []byte) error) error {
	for i := range r.ents[r.first:] {
		e := &r.ents[r.first+i]
		if e.seq <= after {
			continue
		}
		if err := fn(e.seq, r.bytes(e)); err != nil {
			return err
		}
	}
	return nil
}
