package resume

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockshim/sockshim/internal/netutil"
	"github.com/sockshim/sockshim/internal/wisp"
)

// Link is one transport connection carrying whole messages: a WebSocket.
// The Conn never calls WriteMessage concurrently, nor ReadMessage.
type Link interface {
	// WriteMessage sends one message.
	WriteMessage(ctx context.Context, b []byte) error
	// ReadMessage returns the next message, valid until the next call.
	ReadMessage(ctx context.Context) ([]byte, error)
	// Close ends the link at once, telling the peer why when it can; it
	// unblocks ReadMessage and WriteMessage.
	Close(reason string)
}

// Corker is implemented by links that can coalesce the writes of several
// goroutines into one syscall (internal/cork). Conn corks the link before it
// waits for its turn to write, so writers queued behind each other share one.
type Corker interface {
	Cork()
	Uncork() error
}

// Defaults.
const (
	DefaultBuffer      = 2 << 20
	DefaultAckBytes    = 64 << 10
	DefaultAckInterval = 2 * time.Second
	DefaultDeadAfter   = 15 * time.Second
	// MinBuffer is the smallest replay buffer a Conn accepts.
	MinBuffer = 64 << 10
)

// Options configure a Conn. Nil means defaults; a Conn copies them.
type Options struct {
	// Buffer bounds the replay buffer, in bytes: messages sent and not yet
	// acknowledged. Default 2 MiB, at least MinBuffer. When it is full,
	// Write blocks (backpressure); nothing is dropped. An eighth of it is
	// kept for control packets (everything but DATA), so a session reader
	// that answers with a CLOSE or CONTINUE can go on reading the ACKs that
	// free the rest.
	Buffer int
	// AckBytes: an ACK is sent once this many bytes were received since the
	// last one. Default 64 KiB.
	AckBytes int
	// AckInterval: an ACK is sent at least this often while a link is up,
	// even when nothing changed (it doubles as the heartbeat). Default 2 s.
	AckInterval time.Duration
	// DeadAfter: a link on which nothing arrived for this long is dead
	// (the peer sends an ACK every AckInterval). Default 15 s
	// (DefaultDeadAfter); negative turns the check off.
	DeadAfter time.Duration
	// OnLinkDown is called, outside every lock, each time the current link
	// fails (not when Detach or Close drops it). It must not block.
	OnLinkDown func(err error)
	// Recycle, if set, is given each frame handed over by WriteOwnedUntil
	// once the Conn is done with it: acknowledged after its write returned
	// and no replay reading it, copied into the ring instead of kept, or
	// written as a datagram. A frame an early ACK freed (before its write
	// returned, or during a replay) and the frames Close drops are left to
	// the garbage collector. It must not block.
	Recycle func(b []byte)
	// OnHeard is called, outside every lock, on the first message Read
	// gets on each link Attach made current: the peer has that link (for
	// the relay: the client read RESUME_TOKEN). It must not block.
	OnHeard func()
}

func (o *Options) defaults() {
	if o.Buffer == 0 {
		o.Buffer = DefaultBuffer
	}
	o.Buffer = max(o.Buffer, MinBuffer)
	if o.AckBytes <= 0 {
		o.AckBytes = DefaultAckBytes
	}
	if o.AckInterval <= 0 {
		o.AckInterval = DefaultAckInterval
	}
	if o.DeadAfter == 0 {
		o.DeadAfter = DefaultDeadAfter
	}
}

// Errors.
var (
	// ErrClosed is returned after Close without an error.
	ErrClosed = errors.New("resume: session closed")
	// ErrTooLarge is a message that could never fit the replay buffer.
	ErrTooLarge = errors.New("resume: message larger than the replay buffer allows")
	// ErrPosition is a peer's received count outside what was sent: its
	// state and ours cannot be the same session.
	ErrPosition = errors.New("resume: peer's position does not match what was sent")
	// ErrDeadLink is the cause given to OnLinkDown when nothing arrived for
	// DeadAfter.
	ErrDeadLink = errors.New("resume: nothing received from the peer")
)

// Conn is a resumable message connection: it numbers the Wisp packets a
// session sends, keeps them until the peer acknowledges them, and carries
// the session over a sequence of Links, replaying on each new one what the
// peer had not received. Datagrams (UDP DATA, DATAGRAM, DATAGRAM_TO) are
// numbered but never kept: a gap loses them, as UDP may.
type Conn struct {
	o       Options
	reserve int // bytes of the buffer only control packets may use

	mu       sync.Mutex
	link     Link          // nil while detached
	gen      uint64        // bumped on every attach and detach
	up       chan struct{} // closed when a link is attached
	closed   bool
	err      error
	done     chan struct{}
	received uint64 // session messages returned by Read (mu: Detach snapshots it)
	lastRecv atomic.Int64
	heard    atomic.Uint64 // 1 + the gen of the last link OnHeard was called for

	wmu     sync.Mutex // held from numbering a message to its write: order is the wire's
	sent    atomic.Uint64
	written atomic.Uint64 // messages numbered whose write returned (or that wait for a link)

	rmu       sync.Mutex
	buf       *replayBuf
	acked     uint64
	room      chan struct{} // closed when acknowledgements free room, if roomWait
	roomWait  bool          // a writer took room to wait on: an ACK replaces it
	replaying bool          // Attach is writing entries out of rmu: release recycles none
	usedHigh  int           // the most the buffer ever held

	ackSig    netutil.Signal
	recvBytes int // reader only: bytes since the last ACK was asked for

	resumes, replayedMsgs, replayedBytes, dgramDropped, dgramLost, linkDowns atomic.Int64
}

// New returns a Conn on its first link. The session's handshake has been
// done on l; numbering starts with the next message either side sends.
func New(l Link, opts *Options) *Conn {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.defaults()
	c := &Conn{
		o: o, reserve: o.Buffer / 8,
		link: l, up: make(chan struct{}), done: make(chan struct{}),
		buf: newReplayBuf(o.Buffer), room: make(chan struct{}),
		ackSig: netutil.NewSignal(),
	}
	close(c.up)
	c.lastRecv.Store(time.Now().UnixNano())
	go c.acker()
	return c
}

// isDatagram: messages that are never kept for replay.
func isDatagram(b []byte, datagram bool) bool {
	t := wisp.Type(b[0])
	return datagram || t == wisp.TypeDatagram || t == wisp.TypeDatagramTo
}

// Write sends one Wisp packet, or keeps it for the next link while there is
// none. datagram marks a DATA packet of a UDP stream (DATAGRAM and
// DATAGRAM_TO packets are recognised by type): those are sent only when a
// link is up and dropped otherwise. Every other packet is kept until the
// peer acknowledges it; Write blocks while the buffer has no room for it,
// until ctx ends. A failed link is not an error here (the packet waits in
// the buffer); b may be reused when Write returns.
func (c *Conn) Write(ctx context.Context, b []byte, datagram bool) error {
	one := [1][]byte{b}
	return c.WriteBatch(ctx, one[:], func([]byte) bool { return datagram })
}

// WriteBatch writes frames in order as Write does, under one cork of the
// link where they fit at once. datagram, if not nil, says which DATA
// frames are datagrams. No cork is held while waiting for room: a cork
// would hold back every other writer's frames, the ACKs among them.
func (c *Conn) WriteBatch(ctx context.Context, frames [][]byte, datagram func([]byte) bool) error {
	_, err := c.WriteBatchUntil(ctx, nil, frames, datagram)
	return err
}

// ErrStopped is WriteBatchUntil's error when stop closed while a frame
// waited for room in the buffer.
var ErrStopped = errors.New("resume: gave up waiting for room in the replay buffer")

// WriteBatchUntil is WriteBatch that stops waiting for room when stop is
// closed (a writer's deadline), with ErrStopped. It returns how many of
// frames it took (kept and sent, or kept for the next link); the rest were
// not numbered and may be written later. ctx bounds the link's writes, stop
// only the waits: a write given up halfway would break the WebSocket.
func (c *Conn) WriteBatchUntil(ctx context.Context, stop <-chan struct{}, frames [][]byte, datagram func([]byte) bool) (int, error) {
	return c.WriteOwnedUntil(ctx, stop, frames, 0, datagram)
}

// WriteOwnedUntil is WriteBatchUntil where the first owned frames are
// handed over: the caller made them for this write (a queued frame is its
// own copy) and never touches those it took again, so the replay buffer
// keeps them as they are instead of copying them. Each is charged its
// capacity; one that does not fit so is copied as any other.
func (c *Conn) WriteOwnedUntil(ctx context.Context, stop <-chan struct{}, frames [][]byte, owned int, datagram func([]byte) bool) (int, error) {
	for _, b := range frames {
		if len(b) < wisp.HeaderLen {
			return 0, fmt.Errorf("resume: %d-byte message is not a Wisp packet", len(b))
		}
	}
	taken := 0
	for len(frames) > 0 {
		// Wait, unlocked and uncorked, until the first frame fits.
		b := frames[0]
		dg := isDatagram(b, datagram != nil && datagram(b))
		limit := c.limit(b)
		if !dg && len(b) > limit {
			return taken, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), limit)
		}
		if !dg {
			for {
				c.rmu.Lock()
				ok := c.buf.used+len(b) <= limit
				var room chan struct{}
				if !ok {
					room = c.waitRoom()
				}
				c.rmu.Unlock()
				if ok {
					break
				}
				select {
				case <-room:
				case <-stop:
					return taken, ErrStopped
				case <-ctx.Done():
					return taken, ctx.Err()
				case <-c.done:
					return taken, c.Err()
				}
			}
		}
		c.mu.Lock()
		corked, _ := c.link.(Corker)
		c.mu.Unlock()
		if corked != nil {
			corked.Cork()
		}
		n, err := c.writeFitting(ctx, stop, frames, max(owned-taken, 0), datagram, dg)
		if corked != nil {
			corked.Uncork()
		}
		taken += n
		if err != nil {
			return taken, err
		}
		frames = frames[n:]
	}
	return taken, nil
}

// limit is how much of the buffer a frame may use.
func (c *Conn) limit(b []byte) int {
	if wisp.Type(b[0]) == wisp.TypeData {
		return c.o.Buffer - c.reserve
	}
	return c.o.Buffer
}

// writeFitting numbers, keeps and writes frames from the start of frames
// while they fit, and returns how many it took.
// dg0 is what isDatagram said of frames[0] (datagram may cost a lookup).
func (c *Conn) writeFitting(ctx context.Context, stop <-chan struct{}, frames [][]byte, owned int, datagram func([]byte) bool, dg0 bool) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	l, gen, closed, cerr := c.link, c.gen, c.closed, c.err
	c.mu.Unlock()
	if closed {
		return 0, cerr
	}
	n := 0
	for i, b := range frames {
		dg, copied := dg0, false
		if i > 0 {
			dg = isDatagram(b, datagram != nil && datagram(b))
		}
		if !dg {
			limit := c.limit(b)
			if len(b) > limit {
				return n, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), limit)
			}
			c.rmu.Lock()
			ok := n < owned && c.buf.fitsOwned(b, limit)
			if ok {
				c.buf.pushOwned(c.sent.Load()+1, b)
			} else if ok = c.buf.fits(len(b), limit); ok {
				c.buf.push(c.sent.Load()+1, b)
			}
			if ok {
				c.usedHigh = max(c.usedHigh, c.buf.used)
			}
			copied = ok && c.buf.ents[len(c.buf.ents)-1].own == nil
			c.rmu.Unlock()
			if !ok {
				if n == 0 {
					// Room was there a moment ago but the ring's layout
					// has none contiguous: wait for the next ACK.
					c.rmu.Lock()
					room := c.waitRoom()
					c.rmu.Unlock()
					c.wmu.Unlock()
					select {
					case <-room:
					case <-stop:
						c.wmu.Lock()
						return 0, ErrStopped
					case <-ctx.Done():
						c.wmu.Lock()
						return 0, ctx.Err()
					case <-c.done:
					}
					c.wmu.Lock()
				}
				return n, nil
			}
		}
		// a frame handed over that was copied, or not kept at all, is
		// done with once written
		mine := n < owned && (dg || copied) && c.o.Recycle != nil
		n++
		if l == nil {
			if dg {
				c.dgramDropped.Add(1)
			} else {
				c.written.Store(c.sent.Add(1))
			}
			if mine {
				c.o.Recycle(b)
			}
			continue
		}
		seq := c.sent.Add(1)
		err := l.WriteMessage(ctx, b)
		c.written.Store(seq)
		if mine {
			c.o.Recycle(b)
		}
		if err != nil {
			c.linkDown(gen, err)
			l = nil // the rest waits in the buffer (datagrams are dropped); Attach needs wmu
		}
	}
	return n, nil
}

func (c *Conn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.err
	}
	return nil
}

// Read returns the next session message and the link it came on (for a
// reader that wants to take its buffer). It waits across link changes and
// returns an error only when ctx ends or the Conn is closed. ACK and SKIP
// packets are handled here and never returned.
func (c *Conn) Read(ctx context.Context) ([]byte, Link, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, nil, c.err
		}
		l, gen, up := c.link, c.gen, c.up
		c.mu.Unlock()
		if l == nil {
			select {
			case <-up:
			case <-c.done:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			continue
		}
		b, err := l.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			c.linkDown(gen, err)
			continue
		}
		c.lastRecv.Store(time.Now().UnixNano())
		if c.o.OnHeard != nil && c.heard.Load() != gen+1 {
			c.heard.Store(gen + 1)
			c.o.OnHeard()
		}
		if len(b) >= wisp.HeaderLen && b[1]|b[2]|b[3]|b[4] == 0 {
			switch wisp.Type(b[0]) {
			case wisp.TypeAck:
				n, err := wisp.ParseAck(b[wisp.HeaderLen:])
				if err == nil {
					err = c.ack(n)
				}
				if err != nil {
					c.Close(err)
				}
				continue
			case wisp.TypeSkip:
				n, err := wisp.ParseSkip(b[wisp.HeaderLen:])
				if err != nil {
					c.Close(err)
					continue
				}
				c.mu.Lock()
				if gen == c.gen {
					c.received += uint64(n)
					c.dgramLost.Add(int64(n))
				}
				c.mu.Unlock()
				continue
			}
		}
		c.mu.Lock()
		if gen != c.gen {
			// Read after a Detach reported our position: the peer sends
			// this again on the next link.
			c.mu.Unlock()
			continue
		}
		c.received++
		c.mu.Unlock()
		c.recvBytes += len(b)
		if c.recvBytes >= c.o.AckBytes {
			c.recvBytes = 0
			c.ackSig.Notify()
		}
		return b, l, nil
	}
}

// ack frees what the peer acknowledged.
func (c *Conn) ack(n uint64) error {
	if n > c.sent.Load() {
		return fmt.Errorf("%w: acknowledged %d, sent %d", ErrPosition, n, c.sent.Load())
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if n <= c.acked {
		return nil
	}
	c.acked = n
	if c.buf.release(n, c.recycle(), c.written.Load()) > 0 && c.roomWait {
		close(c.room)
		c.room, c.roomWait = make(chan struct{}), false
	}
	return nil
}

// recycle is what release gives the owned frames it frees (rmu held): nil
// during a replay, which may still be writing them.
func (c *Conn) recycle() func([]byte) {
	if c.replaying {
		return nil
	}
	return c.o.Recycle
}

// waitRoom returns the channel the next ACK that frees room closes (rmu
// held). An ACK makes a new one only when a writer took the last: most
// ACKs, in a flow that never fills the buffer, allocate nothing.
func (c *Conn) waitRoom() chan struct{} {
	c.roomWait = true
	return c.room
}

// linkDown drops the link of generation gen, if it is still current.
func (c *Conn) linkDown(gen uint64, err error) {
	c.mu.Lock()
	if c.gen != gen || c.link == nil || c.closed {
		c.mu.Unlock()
		return
	}
	l := c.link
	c.link, c.up = nil, make(chan struct{})
	c.gen++
	c.mu.Unlock()
	c.linkDowns.Add(1)
	l.Close("link lost")
	if c.o.OnLinkDown != nil {
		c.o.OnLinkDown(err)
	}
}

// LinkDown reports the current link dead (say, a keepalive went
// unanswered): the Conn drops it and waits for Attach.
func (c *Conn) LinkDown(err error) {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	c.linkDown(gen, err)
}

// Detach stops using the current link (closing it) and returns how many
// session messages were received: the position to tell the peer on the
// next link. Messages read from the old link after this are dropped, so
// the position stays exact until Attach.
func (c *Conn) Detach() (received uint64) {
	c.mu.Lock()
	l := c.link
	if l != nil {
		c.link, c.up = nil, make(chan struct{})
		c.gen++
	}
	received = c.received
	c.mu.Unlock()
	if l != nil {
		l.Close("session resumed on another connection")
	}
	return received
}

// Received is how many session messages were received so far.
func (c *Conn) Received() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received
}

// CheckPosition reports ErrPosition when the peer cannot have received
// peerReceived of our messages: more than were sent, or fewer than it
// acknowledged before.
func (c *Conn) CheckPosition(peerReceived uint64) error {
	sent := c.sent.Load()
	c.rmu.Lock()
	acked := c.acked
	c.rmu.Unlock()
	if peerReceived < acked || peerReceived > sent {
		return fmt.Errorf("%w: peer received %d, we sent %d and it had acknowledged %d", ErrPosition, peerReceived, sent, acked)
	}
	return nil
}

// Attach carries the session on l, which has done the resume exchange:
// peerReceived is the peer's count of our messages. It replays the kept
// messages after that position (datagrams as SKIP), then makes l current.
// A position the peer cannot have is ErrPosition; a failed write on l
// during the replay is returned too, and the Conn stays detached.
func (c *Conn) Attach(l Link, peerReceived uint64) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.err
	}
	old := c.link
	if old != nil {
		c.link, c.up = nil, make(chan struct{})
		c.gen++
	}
	c.mu.Unlock()
	if old != nil {
		old.Close("session resumed on another connection")
	}
	sent := c.sent.Load()
	if err := c.CheckPosition(peerReceived); err != nil {
		return err
	}
	if err := c.ack(peerReceived); err != nil {
		return err
	}
	// The link is current before the replay, so our reader takes the
	// peer's replay while we write ours: two replays larger than the
	// socket buffers cannot wait on each other. Writers wait on wmu, which
	// we hold, so nothing new is numbered meanwhile and the bytes of the
	// buffer stay put; an ACK arriving meanwhile only moves its indices,
	// hence the copy of those.
	c.rmu.Lock()
	ents := slices.Clone(c.buf.ents[c.buf.first:])
	data := c.buf.data
	c.replaying = true
	c.rmu.Unlock()
	defer func() {
		c.rmu.Lock()
		c.replaying = false
		c.rmu.Unlock()
	}()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		l.Close("session closed")
		return c.err
	}
	c.link = l
	c.gen++
	gen := c.gen
	close(c.up)
	c.lastRecv.Store(time.Now().UnixNano())
	c.mu.Unlock()
	// Counted here, not after the replay: the peer counts its side once
	// it has the link too, and a replay the next loss cuts short is still
	// a resume on both sides (the next one replays the rest).
	c.resumes.Add(1)
	ctx := context.Background()
	next := peerReceived + 1
	var skip [wisp.HeaderLen + 4]byte
	var msgs, bytes int64
	err := func() error {
		for _, e := range ents {
			if e.seq <= peerReceived {
				continue
			}
			if e.seq > next {
				if err := l.WriteMessage(ctx, wisp.AppendSkip(skip[:0], uint32(e.seq-next))); err != nil {
					return err
				}
			}
			msg := e.own
			if msg == nil {
				msg = data[e.off : e.off+e.n]
			}
			if err := l.WriteMessage(ctx, msg); err != nil {
				return err
			}
			msgs++
			bytes += int64(e.n)
			next = e.seq + 1
		}
		if sent >= next {
			return l.WriteMessage(ctx, wisp.AppendSkip(skip[:0], uint32(sent-next+1)))
		}
		return nil
	}()
	c.replayedMsgs.Add(msgs)
	c.replayedBytes.Add(bytes)
	if err != nil {
		c.linkDown(gen, err)
		return fmt.Errorf("resume: replay: %w", err)
	}
	c.ackSig.Notify()
	return nil
}

// Cork corks the current link, if it can be, so the writes of a batch
// share one syscall; call the function it returns when the batch is out.
func (c *Conn) Cork() (uncork func()) {
	c.mu.Lock()
	corked, _ := c.link.(Corker)
	c.mu.Unlock()
	if corked == nil {
		return func() {}
	}
	corked.Cork()
	return func() { corked.Uncork() }
}

// Link returns the current link, nil while detached.
func (c *Conn) Link() Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link
}

// Connected reports whether a link is attached.
func (c *Conn) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link != nil
}

// Done is closed by Close.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is the error Close was given (ErrClosed for nil), once Done is closed.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the Conn for good: the link is closed, the buffer released,
// Read and Write return err (ErrClosed when nil).
func (c *Conn) Close(err error) {
	if err == nil {
		err = ErrClosed
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed, c.err = true, err
	l := c.link
	c.link = nil
	c.gen++
	close(c.done)
	c.mu.Unlock()
	if l != nil {
		l.Close(err.Error())
	}
	c.rmu.Lock()
	c.buf = newReplayBuf(c.o.Buffer)
	c.rmu.Unlock()
}

// acker sends an ACK when AckBytes were received, and every AckInterval
// while a link is up; a separate goroutine declares a silent link dead, so
// an ACK stuck behind a blocked write cannot stop that check.
func (c *Conn) acker() {
	t := time.NewTicker(c.o.AckInterval)
	defer t.Stop()
	if c.o.DeadAfter > 0 {
		go c.watchdog()
	}
	var buf [wisp.HeaderLen + 8]byte
	for {
		select {
		case <-c.ackSig:
		case <-t.C:
		case <-c.done:
			return
		}
		// Corked before waiting for wmu, as writers are: an ACK due while
		// a writer has its turn goes out in that writer's syscall, not in
		// one of its own.
		c.mu.Lock()
		corked, _ := c.link.(Corker)
		c.mu.Unlock()
		if corked != nil {
			corked.Cork()
		}
		c.wmu.Lock()
		c.mu.Lock()
		l, gen, n := c.link, c.gen, c.received
		c.mu.Unlock()
		var err error
		if l != nil {
			err = l.WriteMessage(context.Background(), wisp.AppendAck(buf[:0], n))
		}
		c.wmu.Unlock()
		if corked != nil {
			corked.Uncork()
		}
		if err != nil {
			c.linkDown(gen, err)
		}
	}
}

func (c *Conn) watchdog() {
	t := time.NewTicker(max(c.o.DeadAfter/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.done:
			return
		}
		c.mu.Lock()
		l, gen := c.link, c.gen
		c.mu.Unlock()
		if l != nil && time.Since(time.Unix(0, c.lastRecv.Load())) > c.o.DeadAfter {
			c.linkDown(gen, fmt.Errorf("%w for %v", ErrDeadLink, c.o.DeadAfter))
		}
	}
}

// Stats are a Conn's counters.
type Stats struct {
	Sent, Received, Acked uint64
	// Buffered is what the replay buffer holds now, BufferedHigh the most
	// it ever held and BufferCap the bytes it has allocated: none exceeds
	// Options.Buffer.
	Buffered, BufferedHigh, BufferCap int
	// Resumes counts links Attach made current (its replay may then
	// have been cut short by the next loss).
	Resumes int64

	ReplayedMessages, ReplayedBytes int64
	DatagramsDropped                int64 // not sent: no link at the time
	DatagramsLost                   int64 // the peer's, not replayed to us (SKIP)
	LinkDowns                       int64 // links that failed
}

// Stats returns a snapshot.
func (c *Conn) Stats() Stats {
	s := Stats{Sent: c.sent.Load(), Received: c.Received()}
	c.rmu.Lock()
	s.Acked, s.Buffered, s.BufferedHigh, s.BufferCap = c.acked, c.buf.used, c.usedHigh, len(c.buf.data)+c.buf.owned
	c.rmu.Unlock()
	s.Resumes, s.ReplayedMessages, s.ReplayedBytes = c.resumes.Load(), c.replayedMsgs.Load(), c.replayedBytes.Load()
	s.DatagramsDropped, s.DatagramsLost, s.LinkDowns = c.dgramDropped.Load(), c.dgramLost.Load(), c.linkDowns.Load()
	return s
}
