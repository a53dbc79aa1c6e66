package testutil

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Segment is one IPv4 TCP segment a TTLSniffer saw on loopback.
type Segment struct {
	TTL     int
	SrcPort uint16
	SYN     bool // SYN set (a SYN-ACK from a listener)
	Payload int  // TCP payload bytes
}

// TTLSniffer records the IP TTL of every IPv4 TCP segment from
// 127.0.0.1:port (a raw socket: the kernel's copy of what went over the
// wire, not what a socket option says). It needs CAP_NET_RAW (root, as make
// test runs); without it the test fails, never skips.
type TTLSniffer struct {
	port uint16
	f    *os.File
	mu   sync.Mutex
	segs []Segment
	done chan struct{}
}

// NewTTLSniffer starts a sniffer of the segments from port on 127.0.0.1
// (start it before the connection opens to see its SYN-ACK); it stops when
// the test ends.
func NewTTLSniffer(t testing.TB, port uint16) *TTLSniffer {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		t.Fatalf("a raw socket to see TTLs on the wire: %v (the test needs CAP_NET_RAW: run it as root, as make test does)", err)
	}
	// A raw socket gets a copy of every TCP segment on the machine (other
	// tests' bulk transfers too): the kernel keeps only this port's, so
	// the buffer never fills with others' and drops ours.
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 4},                               // IPv4 source
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x7f000001, SkipTrue: 4}, // to the drop
		bpf.LoadMemShift{Off: 0},                                         // X = IP header length
		bpf.LoadIndirect{Off: 0, Size: 2},                                // TCP source port
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipFalse: 1},
		bpf.RetConstant{Val: 1 << 16},
		bpf.RetConstant{Val: 0},
	})
	if err == nil {
		filter := make([]unix.SockFilter, len(prog))
		for i, in := range prog {
			filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
		}
		err = unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]})
	}
	if err != nil {
		unix.Close(fd)
		t.Fatalf("the raw socket's filter: %v", err)
	}
	s := &TTLSniffer{port: port, f: os.NewFile(uintptr(fd), "raw tcp"), done: make(chan struct{})}
	go s.read()
	t.Cleanup(func() { s.f.Close(); <-s.done })
	return s
}

func (s *TTLSniffer) read() {
	defer close(s.done)
	buf := make([]byte, 1<<16)
	for {
		n, err := s.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue
		}
		b := buf[:n]
		if n < 20 || b[0]>>4 != 4 || b[9] != unix.IPPROTO_TCP || [4]byte(b[12:16]) != [4]byte{127, 0, 0, 1} {
			continue
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if n < ihl+20 || total > n {
			continue
		}
		tcp := b[ihl:total]
		off := int(tcp[12]>>4) * 4
		if binary.BigEndian.Uint16(tcp) != s.port {
			continue // queued before the filter was attached
		}
		s.mu.Lock()
		s.segs = append(s.segs, Segment{TTL: int(b[8]), SrcPort: s.port, SYN: tcp[13]&0x02 != 0, Payload: len(tcp) - off})
		s.mu.Unlock()
	}
}

// Segments waits (up to 20 s) until the sniffer has seen a SYN segment and
// a segment with payload, and returns every segment so far; it fails the
// test if they never come.
func (s *TTLSniffer) Segments(t testing.TB) []Segment {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out []Segment
		syn, data := false, false
		s.mu.Lock()
		for _, g := range s.segs {
			out = append(out, g)
			syn = syn || g.SYN
			data = data || g.Payload > 0
		}
		s.mu.Unlock()
		if syn && data {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sniffer saw %d segments from port %d, want a SYN and one with data: %+v", len(out), s.port, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
