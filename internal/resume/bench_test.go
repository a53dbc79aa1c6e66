package resume

import (
	"context"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/wisp"
)

// discardLink takes every message and keeps none, so a benchmark measures
// the Conn's own work on the send path.
type discardLink struct{ done chan struct{} }

func (discardLink) WriteMessage(context.Context, []byte) error { return nil }
func (l discardLink) ReadMessage(ctx context.Context) ([]byte, error) {
	select {
	case <-l.done:
	case <-ctx.Done():
	}
	return nil, errCut
}
func (discardLink) Close(string) {}

// BenchmarkWrite is the resume layer's send path for bulk DATA: number,
// keep for replay, write, and free on the peer's cumulative ACK (every
// 64 KiB, as DefaultAckBytes has it). copy is Write: the frame is the
// caller's, copied into the ring (what every frame paid before
// WriteOwnedUntil). owned is WriteOwnedUntil with frames the caller made
// for it, as the session's queue has them (Session.send clones a frame it
// must queue): kept as they are. The owned frames are made before the
// timer and go round, each taken again only long after its ACK freed it.
func BenchmarkWrite(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10} {
		for _, mode := range []string{"copy", "owned"} {
			b.Run(mode+"/"+byteSize(size), func(b *testing.B) {
				l := discardLink{done: make(chan struct{})}
				defer close(l.done)
				c := New(l, &Options{AckInterval: time.Hour, DeadAfter: -1})
				defer c.Close(nil)
				ctx := context.Background()
				frame := wisp.AppendData(nil, 1, make([]byte, size))
				var pool [64][]byte // 64 frames: at most 4 are held (the ACK comes every 64 KiB)
				for i := range pool {
					pool[i] = append([]byte(nil), frame...)
				}
				var frames [1][]byte
				b.SetBytes(int64(size))
				b.ReportAllocs()
				unacked, i := 0, 0
				for b.Loop() {
					var err error
					if mode == "copy" {
						err = c.Write(ctx, frame, false)
					} else {
						frames[0] = pool[i%len(pool)]
						i++
						_, err = c.WriteOwnedUntil(ctx, nil, frames[:], 1, nil)
					}
					if err != nil {
						b.Fatal(err)
					}
					if unacked += len(frame); unacked >= DefaultAckBytes {
						unacked = 0
						if err := c.ack(c.sent.Load()); err != nil {
							b.Fatal(err)
						}
					}
				}
				if st := c.Stats(); st.BufferedHigh > DefaultBuffer || st.BufferCap > DefaultBuffer {
					b.Fatalf("buffer high %d, cap %d, bound %d", st.BufferedHigh, st.BufferCap, DefaultBuffer)
				}
			})
		}
	}
}

func byteSize(n int) string {
	if n >= 1<<10 {
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
