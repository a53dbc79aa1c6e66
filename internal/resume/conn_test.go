package resume

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/wisp"
)

// memLink is one end of an in-memory message link. Messages in flight (up
// to the channel's capacity) are lost when the link is cut, like the bytes
// in a dying TCP connection's buffers.
type memLink struct {
	in, out chan []byte
	cut     chan struct{}
	once    *sync.Once
}

func memPair(inflight int) (*memLink, *memLink) {
	ab, ba := make(chan []byte, inflight), make(chan []byte, inflight)
	cut, once := make(chan struct{}), &sync.Once{}
	return &memLink{in: ba, out: ab, cut: cut, once: once}, &memLink{in: ab, out: ba, cut: cut, once: once}
}

var errCut = errors.New("link cut")

func (l *memLink) WriteMessage(ctx context.Context, b []byte) error {
	select {
	case <-l.cut:
		return errCut
	default:
	}
	select {
	case l.out <- bytes.Clone(b):
		return nil
	case <-l.cut:
		return errCut
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *memLink) ReadMessage(ctx context.Context) ([]byte, error) {
	select {
	case <-l.cut:
		return nil, errCut
	default:
	}
	select {
	case b := <-l.in:
		return b, nil
	case <-l.cut:
		return nil, errCut
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *memLink) Close(string) { l.once.Do(func() { close(l.cut) }) }

// resumePair runs the resume exchange both hooks do: each side tells its
// position, each replays from the other's.
func resumePair(t *testing.T, a, b *Conn, inflight int) {
	t.Helper()
	ra, rb := a.Detach(), b.Detach()
	la, lb := memPair(inflight)
	errc := make(chan error, 2)
	go func() { errc <- a.Attach(la, rb) }()
	go func() { errc <- b.Attach(lb, ra) }()
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatalf("attach: %v", err)
		}
	}
}

// streamBytes is the deterministic content of stream id at offset off.
func streamBytes(id uint32, off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		x := uint32(off+i)*2654435761 + id*40503
		b[i] = byte(x >> 24)
	}
	return b
}

type side struct {
	c        *Conn
	streams  int
	perWrite int
	total    int // bytes per stream
	dgrams   int

	mu       sync.Mutex
	got      map[uint32]*bytes.Buffer
	dgramSeq []uint32
}

func (s *side) write(t *testing.T, wg *sync.WaitGroup, ctx context.Context) {
	for id := uint32(1); id <= uint32(s.streams); id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := 0; off < s.total; {
				n := min(s.total-off, 1+rand.IntN(s.perWrite))
				pkt := wisp.AppendData(nil, id, streamBytes(id, off, n))
				var err error
				if id%2 == 0 {
					// handed over, as the session's queued frames are
					_, err = s.c.WriteOwnedUntil(ctx, nil, [][]byte{pkt}, 1, nil)
				} else {
					err = s.c.Write(ctx, pkt, false)
					clear(pkt[wisp.HeaderLen:]) // Write copied it: the caller may reuse it
				}
				if err != nil {
					t.Errorf("write stream %d: %v", id, err)
					return
				}
				off += n
				if id == 1 && off%(4*s.perWrite) < n {
					// control packets ride the same numbering
					s.c.Write(ctx, wisp.AppendContinue(nil, id, uint32(off)), false)
				}
			}
		}()
	}
	if s.dgrams > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range s.dgrams {
				pkt := wisp.AppendData(nil, 1000, binary.LittleEndian.AppendUint32(nil, uint32(i)))
				if err := s.c.Write(ctx, pkt, true); err != nil {
					t.Errorf("write datagram: %v", err)
					return
				}
				if i%16 == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
	}
}

func (s *side) read(ctx context.Context, want int, done chan<- struct{}) {
	s.got = map[uint32]*bytes.Buffer{}
	have := 0
	for {
		b, _, err := s.c.Read(ctx)
		if err != nil {
			return
		}
		p, err := wisp.Parse(b)
		if err != nil {
			panic(err)
		}
		if p.Type != wisp.TypeData {
			continue
		}
		s.mu.Lock()
		if p.StreamID == 1000 {
			s.dgramSeq = append(s.dgramSeq, binary.LittleEndian.Uint32(p.Data))
		} else {
			buf := s.got[p.StreamID]
			if buf == nil {
				buf = &bytes.Buffer{}
				s.got[p.StreamID] = buf
			}
			buf.Write(p.Data)
			have += len(p.Data)
		}
		s.mu.Unlock()
		if have == want {
			close(done)
			want = -1
		}
	}
}

func (s *side) check(t *testing.T, from *side) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := uint32(1); id <= uint32(from.streams); id++ {
		want := sha256.Sum256(streamBytes(id, 0, from.total))
		buf := s.got[id]
		if buf == nil || sha256.Sum256(buf.Bytes()) != want {
			n := 0
			if buf != nil {
				n = buf.Len()
			}
			t.Errorf("stream %d: %d bytes received, want %d with sha256 %x", id, n, from.total, want[:8])
		}
	}
	for i := 1; i < len(s.dgramSeq); i++ {
		if s.dgramSeq[i] <= s.dgramSeq[i-1] {
			t.Fatalf("datagram %d after %d: repeated or reordered", s.dgramSeq[i], s.dgramSeq[i-1])
		}
	}
}

// TestReplayExactRandomCuts streams in both directions while the link is
// cut at random moments (losing whatever was in flight) and resumed after
// a random pause: every byte arrives once, in order, on both sides, and the
// buffer never holds more than its bound.
func TestReplayExactRandomCuts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		buffer   int
		inflight int
		cuts     int
	}{
		{"small-buffer", MinBuffer, 4, 40},
		{"default", DefaultBuffer, 64, 25},
		{"deep-inflight", 256 << 10, 512, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// Recycle scribbles over what it is given: a frame recycled while
			// a write or a replay still reads it arrives wrong (and -race
			// sees the write).
			var recycled atomic.Int64
			opts := &Options{Buffer: tc.buffer, AckBytes: 8 << 10, AckInterval: 5 * time.Millisecond, DeadAfter: -1,
				Recycle: func(b []byte) {
					if b[0] != byte(wisp.TypeData) {
						t.Errorf("a frame recycled twice: %x", b[:wisp.HeaderLen])
						return
					}
					clear(b)
					recycled.Add(1)
				}}
			la, lb := memPair(tc.inflight)
			a, b := New(la, opts), New(lb, opts)
			defer a.Close(nil)
			defer b.Close(nil)
			defer func() {
				if recycled.Load() == 0 {
					t.Errorf("no frame handed over was recycled")
				}
			}()
			sa := &side{c: a, streams: 5, perWrite: 3000, total: 1 << 20, dgrams: 4000}
			sb := &side{c: b, streams: 4, perWrite: 5000, total: 1280 << 10, dgrams: 4000}
			doneA, doneB := make(chan struct{}), make(chan struct{})
			go sa.read(ctx, sb.streams*sb.total, doneA)
			go sb.read(ctx, sa.streams*sa.total, doneB)
			var wg sync.WaitGroup
			sa.write(t, &wg, ctx)
			sb.write(t, &wg, ctx)

			var cutter sync.WaitGroup
			stop := make(chan struct{})
			var cuts atomic.Int64
			cutter.Add(1)
			go func() {
				defer cutter.Done()
				for i := 0; i < tc.cuts; i++ {
					select {
					case <-stop:
						return
					case <-time.After(time.Duration(rand.IntN(1500)) * time.Microsecond):
					}
					switch rand.IntN(3) {
					case 0: // the link dies under both
						a.mu.Lock()
						l := a.link
						a.mu.Unlock()
						if l != nil {
							l.Close("cut")
						}
					case 1: // one side notices first
						a.LinkDown(errCut)
					case 2: // the other side notices first
						b.LinkDown(errCut)
					}
					time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
					resumePair(t, a, b, tc.inflight)
					cuts.Add(1)
				}
			}()
			for _, d := range []chan struct{}{doneA, doneB} {
				select {
				case <-d:
				case <-ctx.Done():
					t.Fatalf("transfer did not finish: a %+v, b %+v", a.Stats(), b.Stats())
				}
			}
			close(stop)
			cutter.Wait()
			wg.Wait()
			sa.check(t, sb)
			sb.check(t, sa)
			for _, c := range []*Conn{a, b} {
				st := c.Stats()
				if st.BufferedHigh > tc.buffer || st.BufferCap > tc.buffer {
					t.Errorf("buffer held %d, allocated %d: bound %d", st.BufferedHigh, st.BufferCap, tc.buffer)
				}
			}
			// the counts agree once both sides are quiet and attached
			deadline := time.Now().Add(10 * time.Second)
			for a.Received() != b.sent.Load() || b.Received() != a.sent.Load() {
				if time.Now().After(deadline) {
					t.Fatalf("positions differ: a received %d of %d, b received %d of %d", a.Received(), b.sent.Load(), b.Received(), a.sent.Load())
				}
				time.Sleep(time.Millisecond)
			}
			st := a.Stats()
			t.Logf("%d cuts; a: %d resumes, %d messages (%d bytes) replayed, buffer high %d of %d; datagrams a got %d/%d, b got %d/%d",
				cuts.Load(), st.Resumes, st.ReplayedMessages, st.ReplayedBytes, st.BufferedHigh, tc.buffer,
				len(sa.dgramSeq), sb.dgrams, len(sb.dgramSeq), sa.dgrams)
			if st.Resumes == 0 {
				t.Errorf("no resume happened")
			}
			// every datagram b wrote was delivered, dropped while
			// detached, or lost in a gap (and counted on a as lost)
			bs := b.Stats()
			if got := int64(len(sa.dgramSeq)) + bs.DatagramsDropped + st.DatagramsLost; got != int64(sb.dgrams) {
				t.Errorf("datagrams: %d delivered + %d dropped + %d lost != %d written", len(sa.dgramSeq), bs.DatagramsDropped, st.DatagramsLost, sb.dgrams)
			}
		})
	}
}

// TestBackpressureNeverOverBound: with no link and a small buffer, writers
// block once it is full, the bound holds, and they go on after a resume.
func TestBackpressureNeverOverBound(t *testing.T) {
	t.Parallel()
	opts := &Options{Buffer: MinBuffer, AckInterval: 5 * time.Millisecond, DeadAfter: -1}
	la, lb := memPair(8)
	a, b := New(la, opts), New(lb, opts)
	defer a.Close(nil)
	defer b.Close(nil)
	a.LinkDown(errCut)
	b.Detach()
	var written atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			if err := a.Write(context.Background(), wisp.AppendData(nil, 1, make([]byte, 4000)), false); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			written.Store(int64(i + 1))
		}
	}()
	// wait until the writer is stuck
	var last int64 = -1
	for stable := 0; stable < 20; {
		time.Sleep(5 * time.Millisecond)
		if w := written.Load(); w == last {
			stable++
		} else {
			last, stable = w, 0
		}
	}
	st := a.Stats()
	if last == 100 || st.Buffered > MinBuffer || st.BufferedHigh > MinBuffer {
		t.Fatalf("writer wrote %d of 100 with no link; buffered %d (high %d), bound %d", last, st.Buffered, st.BufferedHigh, MinBuffer)
	}
	if max := MinBuffer - MinBuffer/8; st.Buffered > max {
		t.Fatalf("DATA took %d bytes, past its share %d", st.Buffered, max)
	}
	// control packets still fit in the reserve
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Write(ctx, wisp.AppendClose(nil, 2, wisp.ReasonVoluntary), false); err != nil {
		t.Fatalf("control packet with DATA blocked: %v", err)
	}
	// a writer's context ends its wait
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := a.Write(short, wisp.AppendData(nil, 3, make([]byte, 4000)), false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked write with an expired context: %v", err)
	}
	got := 0
	go func() {
		for {
			b, _, err := b.Read(context.Background())
			if err != nil {
				return
			}
			if b[0] == byte(wisp.TypeData) {
				got++
			}
		}
	}()
	go func() { // a's reader takes b's ACKs
		for {
			if _, _, err := a.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	resumePair(t, a, b, 8)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("writer still blocked after the resume: %d of 100", written.Load())
	}
	if st := a.Stats(); st.BufferedHigh > MinBuffer || st.BufferCap > MinBuffer {
		t.Fatalf("buffer high %d, cap %d, bound %d", st.BufferedHigh, st.BufferCap, MinBuffer)
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	la, _ := memPair(1)
	a := New(la, &Options{Buffer: MinBuffer, DeadAfter: -1})
	defer a.Close(nil)
	err := a.Write(context.Background(), wisp.AppendData(nil, 1, make([]byte, MinBuffer)), false)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized message: %v", err)
	}
}

// TestPositionChecked: a peer claiming to have received more than was sent,
// or less than it acknowledged, is refused.
func TestPositionChecked(t *testing.T) {
	t.Parallel()
	opts := &Options{AckInterval: time.Millisecond, DeadAfter: -1}
	la, lb := memPair(16)
	a, b := New(la, opts), New(lb, opts)
	defer a.Close(nil)
	defer b.Close(nil)
	go func() {
		for {
			if _, _, err := b.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	for range 5 {
		a.Write(context.Background(), wisp.AppendData(nil, 1, []byte("x")), false)
	}
	go func() {
		for {
			if _, _, err := a.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	for a.Stats().Acked < 5 {
		time.Sleep(time.Millisecond)
	}
	a.Detach()
	l1, _ := memPair(1)
	if err := a.Attach(l1, 6); !errors.Is(err, ErrPosition) {
		t.Fatalf("peer position past sent: %v", err)
	}
	l2, _ := memPair(1)
	if err := a.Attach(l2, 4); !errors.Is(err, ErrPosition) {
		t.Fatalf("peer position before its ACK: %v", err)
	}
	l3, _ := memPair(16)
	if err := a.Attach(l3, 5); err != nil {
		t.Fatalf("exact position: %v", err)
	}
}

// TestDeadLinkNoticed: a link that stops delivering (a blackhole) is
// declared dead after DeadAfter, and OnLinkDown says so.
func TestDeadLinkNoticed(t *testing.T) {
	t.Parallel()
	down := make(chan error, 1)
	la, _ := memPair(1024) // nobody answers on the other end
	a := New(la, &Options{AckInterval: 10 * time.Millisecond, DeadAfter: 200 * time.Millisecond,
		OnLinkDown: func(err error) { down <- err }})
	defer a.Close(nil)
	go a.Read(context.Background())
	select {
	case err := <-down:
		if !errors.Is(err, ErrDeadLink) {
			t.Fatalf("link down with %v, want ErrDeadLink", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("silent link never declared dead")
	}
	if a.Connected() {
		t.Fatal("still connected after the link died")
	}
}

// TestCloseReleases: Close ends Read and blocked Writes and frees the buffer.
func TestCloseReleases(t *testing.T) {
	t.Parallel()
	la, _ := memPair(1)
	a := New(la, &Options{Buffer: MinBuffer, DeadAfter: -1})
	a.LinkDown(errCut)
	for a.Write(context.Background(), wisp.AppendData(nil, 1, make([]byte, 1000)), false) == nil && a.Stats().Buffered < MinBuffer*3/4 {
	}
	errc := make(chan error, 2)
	go func() { errc <- a.Write(context.Background(), wisp.AppendData(nil, 1, make([]byte, 16000)), false) }()
	go func() { _, _, err := a.Read(context.Background()); errc <- err }()
	want := fmt.Errorf("window expired")
	a.Close(want)
	for range 2 {
		select {
		case err := <-errc:
			if err != want {
				t.Fatalf("after Close: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close left a call blocked")
		}
	}
	if st := a.Stats(); st.Buffered != 0 || st.BufferCap != 0 {
		t.Fatalf("buffer kept after Close: %+v", st)
	}
}

// TestResumeCountedWhenReplayCut: when the next loss cuts one side's
// replay short, both sides still count the resume (the relay's metric and
// the client's stats agree), and the next resume replays the rest.
func TestResumeCountedWhenReplayCut(t *testing.T) {
	t.Parallel()
	la, lb := memPair(64)
	a, b := New(la, nil), New(lb, nil)
	defer a.Close(nil)
	defer b.Close(nil)
	ctx := context.Background()
	const msgs = 8
	for i := range msgs {
		if err := a.Write(ctx, wisp.AppendData(nil, 1, streamBytes(1, i, 1000)), false); err != nil {
			t.Fatal(err)
		}
	}
	la.Close("cut")
	// Nothing in flight on the new link: a's replay waits for b to read,
	// and b reads nothing before the link is cut again.
	ra, rb := a.Detach(), b.Detach()
	la2, lb2 := memPair(0)
	errc := make(chan error, 1)
	go func() { errc <- a.Attach(la2, rb) }()
	if err := b.Attach(lb2, ra); err != nil {
		t.Fatal(err)
	}
	la2.Close("cut during a's replay")
	if err := <-errc; err == nil {
		t.Fatal("a's replay over a cut link succeeded")
	}
	if sa, sb := a.Stats().Resumes, b.Stats().Resumes; sa != 1 || sb != 1 {
		t.Errorf("after a resume whose replay was cut: a counted %d, b %d; want 1 each", sa, sb)
	}
	resumePair(t, a, b, 64)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i := range msgs {
		m, _, err := b.Read(rctx)
		if err != nil {
			t.Fatalf("message %d after the second resume: %v", i, err)
		}
		p, err := wisp.Parse(m)
		if err != nil || !bytes.Equal(p.Data, streamBytes(1, i, 1000)) {
			t.Fatalf("message %d after the second resume: %v %v", i, p.Type, err)
		}
	}
	if sa, sb := a.Stats().Resumes, b.Stats().Resumes; sa != 2 || sb != 2 {
		t.Errorf("after two resumes: a counted %d, b %d", sa, sb)
	}
}

// TestWriteBatchUntilStops: a batch waiting for room in a full buffer
// gives up when stop closes, saying how many frames it took; the rest were
// not numbered.
func TestWriteBatchUntilStops(t *testing.T) {
	t.Parallel()
	la, _ := memPair(1 << 10)
	c := New(la, &Options{Buffer: MinBuffer})
	defer c.Close(nil)
	frame := wisp.AppendData(nil, 1, make([]byte, MinBuffer/4))
	frames := [][]byte{frame, frame, frame, frame, frame}
	stop := make(chan struct{})
	time.AfterFunc(100*time.Millisecond, func() { close(stop) })
	n, err := c.WriteBatchUntil(context.Background(), stop, frames, nil)
	if !errors.Is(err, ErrStopped) || n == 0 || n >= len(frames) {
		t.Fatalf("WriteBatchUntil into a full buffer: took %d of %d, %v", n, len(frames), err)
	}
	if st := c.Stats(); st.Sent != uint64(n) || st.Buffered > MinBuffer {
		t.Errorf("took %d frames: %d numbered, %d bytes buffered (bound %d)", n, st.Sent, st.Buffered, MinBuffer)
	}
}
