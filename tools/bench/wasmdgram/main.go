//go:build js

// Command wasmdgram is the datagram half of `make bench`'s browser rows:
// run by the bench's page (tools/bench/page) in headless Chromium, it echoes datagrams through
// the relay to a UDP echo server with a shim.DatagramSocket whose
// QualityOfService is LowLatency, so that they travel on a WebRTC data
// channel (unordered, maxRetransmits=0), and prints on stdout:
//
//	dgram_per_s=N          verified echoes per second
//	dgram_loss=F           fraction of the datagrams sent that never came back
//	dgram_via_channel_tx=F fraction of the sent datagrams the browser's data channel carried
//	dgram_via_channel_rx=F fraction of the received datagrams the data channel carried
//	dgram_corrupt=N        echoes with the right run tag but wrong content
//
// or, when the data channel never opened (the datagrams would have gone on
// the WebSocket), "dgram_channel=not-open: <why>", and exits 1. Nothing is
// measured over the WebSocket.
//
// Whether the datagrams used the data channel comes from the browser's own
// counters: RTCPeerConnection.getStats() "data-channel" entries (messages
// sent and received on the socket's channel "udp/<id>"), taken before and
// after the measurement with nothing in flight, compared with what the
// socket sent and received. To reach the peer connection that the shim
// creates, the program subclasses globalThis.RTCPeerConnection before opening
// the socket, only to keep a reference to each instance.
//
// Each datagram is payload bytes: an 8-byte run tag, an 8-byte sequence
// number, then bytes derived from both; an echo counts only when all of
// it matches a datagram that is still owed. At most window datagrams are
// outstanding; one not back after lossTimeout is written off (lost) and
// its slot reused, so losses do not stall the window.
//
// Environment (set by tools/bench): SOCKSHIM_RELAY_URL,
// SOCKSHIM_UDP_ECHO_ADDR, SOCKSHIM_BENCH_DURATION, SOCKSHIM_BENCH_PAYLOAD,
// SOCKSHIM_BENCH_WINDOW.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/sockshim/sockshim/shim"
)

const (
	// lossTimeout writes off a datagram that has not come back.
	lossTimeout = time.Second
	// channelWait bounds the wait for the data channel to open; the
	// client gives up on it after 15 s (wispclient.channelOpenTimeout).
	channelWait = 20 * time.Second
	headerLen   = 16 // run tag, sequence number
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench wasmdgram:", err)
		os.Exit(1)
	}
}

// errNoChannel is reported as "dgram_channel=not-open".
type errNoChannel struct{ why string }

func (e errNoChannel) Error() string { return "data channel did not open: " + e.why }

func run() error {
	d, err := time.ParseDuration(os.Getenv("SOCKSHIM_BENCH_DURATION"))
	if err != nil {
		return err
	}
	size, err := strconv.Atoi(os.Getenv("SOCKSHIM_BENCH_PAYLOAD"))
	if err != nil {
		return err
	}
	if size < headerLen || size > 65507 {
		return fmt.Errorf("payload %d: want %d to 65507 bytes", size, headerLen)
	}
	window, err := strconv.Atoi(os.Getenv("SOCKSHIM_BENCH_WINDOW"))
	if err != nil || window < 1 {
		return fmt.Errorf("window %q: want a positive number", os.Getenv("SOCKSHIM_BENCH_WINDOW"))
	}
	host, port, err := net.SplitHostPort(os.Getenv("SOCKSHIM_UDP_ECHO_ADDR"))
	if err != nil {
		return err
	}
	h, err := shim.NewHostName(host)
	if err != nil {
		return err
	}

	pcs, err := recordPeerConnections()
	if err != nil {
		return err
	}
	s := shim.NewDatagramSocket(shim.RelayTransport(os.Getenv("SOCKSHIM_RELAY_URL"), nil))
	s.Control().SetQualityOfService(shim.QualityOfServiceLowLatency)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Connect(ctx, h, port); err != nil {
		return err
	}
	defer s.Close()

	e := &echoer{s: s, size: size, buf: make([]byte, 65536)}
	if err := e.warmUp(pcs); err != nil {
		var nc errNoChannel
		if errors.As(err, &nc) {
			fmt.Printf("dgram_channel=not-open: %s\n", nc.why)
			os.Exit(1)
		}
		return err
	}
	before, err := channelStats(pcs)
	if err != nil {
		return err
	}
	r, err := e.measure(d, window)
	if err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond) // past Chromium's getStats cache
	after, err := channelStats(pcs)
	if err != nil {
		return err
	}
	if after.open == 0 {
		return errors.New("the data channel closed during the measurement")
	}
	tx := float64(after.sent-before.sent) / float64(r.sent)
	rx := 1.0
	if r.received > 0 {
		rx = float64(after.received-before.received) / float64(r.received)
	}
	fmt.Fprintf(os.Stderr, "bench wasmdgram: %d sent, %d echoed in %v (%d more after it), %d lost, %d stray, %d corrupt; "+
		"data channel %s: %d sent, %d received; local ICE candidates %s\n",
		r.sent, r.inTime, d, r.returned-r.inTime, r.sent-r.returned, r.stray, r.corrupt,
		after.labels, after.sent-before.sent, after.received-before.received, localCandidates(pcs))
	fmt.Printf("dgram_per_s=%.1f\n", float64(r.inTime)/d.Seconds())
	fmt.Printf("dgram_loss=%.6f\n", 1-float64(r.returned)/float64(r.sent))
	fmt.Printf("dgram_via_channel_tx=%.6f\n", min(tx, 1))
	fmt.Printf("dgram_via_channel_rx=%.6f\n", min(rx, 1))
	fmt.Printf("dgram_corrupt=%d\n", r.corrupt)
	return nil
}

// echoer sends numbered datagrams and checks their echoes.
type echoer struct {
	s    *shim.DatagramSocket
	size int
	buf  []byte
	tag  uint64 // this phase's run tag; echoes of another phase are strays
}

func (e *echoer) fill(p []byte, seq uint64) {
	binary.BigEndian.PutUint64(p, e.tag)
	binary.BigEndian.PutUint64(p[8:], seq)
	x := e.tag ^ seq*0x9e3779b97f4a7c15
	for i := headerLen; i < len(p); i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
}

// check returns the sequence number of an echo of this phase, and whether
// its content is intact; ok is false for a datagram of another phase.
func (e *echoer) check(b, want []byte) (seq uint64, ok, intact bool) {
	if len(b) < headerLen || binary.BigEndian.Uint64(b) != e.tag {
		return 0, false, false
	}
	seq = binary.BigEndian.Uint64(b[8:])
	if len(b) != e.size {
		return seq, true, false
	}
	e.fill(want, seq)
	return seq, true, string(b) == string(want)
}

func (e *echoer) newTag() {
	var b [8]byte
	rand.Read(b[:])
	e.tag = binary.BigEndian.Uint64(b[:])
}

// warmUp waits for the socket's data channel to open, then echoes one
// datagram at a time until an echo has come back on the channel (so the
// relay sends on it too), then lets the stragglers arrive.
func (e *echoer) warmUp(pcs js.Value) error {
	start := time.Now()
	deadline := start.Add(channelWait)
	for {
		st, err := channelStats(pcs)
		if err != nil {
			return err
		}
		if st.open > 0 {
			break
		}
		// The shim creates the peer connection within Connect when the
		// relay offers WebRTC.
		if pcs.Length() == 0 && time.Since(start) > 2*time.Second {
			return errNoChannel{"no RTCPeerConnection was created: the relay does not offer WebRTC"}
		}
		if time.Now().After(deadline) {
			why := "no RTCPeerConnection was created"
			if pcs.Length() > 0 {
				why = fmt.Sprintf("no open \"udp/\" channel after %v (channels: %s; peer connection state %s)",
					channelWait, st.labels, pcs.Index(0).Get("connectionState").String())
			}
			return errNoChannel{why}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.newTag()
	p, want := make([]byte, e.size), make([]byte, e.size)
	deadline = time.Now().Add(10 * time.Second)
	for seq := uint64(0); ; seq++ {
		e.fill(p, seq)
		if _, err := e.s.Write(p); err != nil {
			return err
		}
		e.s.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			n, err := e.s.Read(e.buf)
			if err != nil {
				break // timeout: send the next one
			}
			if q, ok, _ := e.check(e.buf[:n], want); ok && q == seq {
				break
			}
		}
		st, err := channelStats(pcs)
		if err != nil {
			return err
		}
		if st.received > 0 {
			break
		}
		if time.Now().After(deadline) {
			return errNoChannel{"the channel opened, but no echo came back on it in 10s"}
		}
	}
	// Nothing of the warm-up may be in flight when the counters are read.
	e.s.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		if _, err := e.s.Read(e.buf); err != nil {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	return nil
}

type result struct {
	sent     uint64 // datagrams sent during the run
	inTime   uint64 // verified echoes received during the run
	returned uint64 // verified echoes of those datagrams, by the end of the drain
	received uint64 // every datagram the socket received, strays included
	stray    uint64 // datagrams of another phase, duplicates
	corrupt  uint64 // this phase's tag, wrong content
}

// measure keeps window datagrams outstanding for d, then waits up to
// lossTimeout for the last ones.
func (e *echoer) measure(d time.Duration, window int) (result, error) {
	e.newTag()
	var r result
	p, want := make([]byte, e.size), make([]byte, e.size)
	inflight := make(map[uint64]time.Time, window) // owed, slot taken
	written := map[uint64]bool{}                   // owed, written off (a late echo still counts against loss)
	var seq uint64
	var deadline time.Time
	expire := func(now time.Time) {
		for q, t := range inflight {
			if now.Sub(t) > lossTimeout {
				delete(inflight, q)
				written[q] = true
			}
		}
	}
	receive := func(now time.Time, inTime bool) error {
		if now.After(deadline.Add(-25 * time.Millisecond)) {
			deadline = now.Add(50 * time.Millisecond)
			e.s.SetReadDeadline(deadline)
		}
		n, err := e.s.Read(e.buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err) {
				expire(time.Now())
				return nil
			}
			return err
		}
		r.received++
		q, ok, intact := e.check(e.buf[:n], want)
		_, owed := inflight[q]
		switch {
		case !ok:
			r.stray++
			return nil
		case !intact:
			r.corrupt++
			return nil
		case owed:
			delete(inflight, q)
		case written[q]:
			delete(written, q)
		default:
			r.stray++ // a duplicate
			return nil
		}
		r.returned++
		if inTime {
			r.inTime++
		}
		return nil
	}
	start := time.Now()
	end := start.Add(d)
	lastExpire := start
	for now := start; now.Before(end); now = time.Now() {
		for len(inflight) < window {
			e.fill(p, seq)
			if _, err := e.s.Write(p); err != nil {
				return r, err
			}
			inflight[seq] = time.Now()
			seq++
			r.sent++
		}
		if now.Sub(lastExpire) > 50*time.Millisecond {
			expire(now)
			lastExpire = now
		}
		if err := receive(now, true); err != nil {
			return r, err
		}
	}
	drainEnd := time.Now().Add(lossTimeout)
	for now := time.Now(); len(inflight)+len(written) > 0 && now.Before(drainEnd); now = time.Now() {
		if err := receive(now, false); err != nil {
			return r, err
		}
	}
	if r.sent == 0 {
		return r, errors.New("nothing was sent")
	}
	return r, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// recordPeerConnections replaces globalThis.RTCPeerConnection with a subclass
// that remembers every instance, and returns the array it fills.
func recordPeerConnections() (js.Value, error) {
	if js.Global().Get("RTCPeerConnection").IsUndefined() {
		return js.Value{}, errNoChannel{"this browser has no RTCPeerConnection"}
	}
	f := js.Global().Get("Function").New(`
		const Base = globalThis.RTCPeerConnection;
		const made = [];
		globalThis.RTCPeerConnection = class extends Base {
			constructor(...args) { super(...args); made.push(this); }
		};
		return made;`)
	return f.Invoke(), nil
}

// dcStats sums the browser's counters of the "udp/..." data channels.
type dcStats struct {
	sent, received uint64
	open           int    // channels in state "open"
	labels         string // label:state of each
}

func channelStats(pcs js.Value) (dcStats, error) {
	var st dcStats
	var labels []string
	for i := range pcs.Length() {
		report, err := await(pcs.Index(i).Call("getStats"))
		if err != nil {
			return st, fmt.Errorf("getStats: %v", err)
		}
		each := js.FuncOf(func(_ js.Value, args []js.Value) any {
			v := args[0]
			if v.Get("type").String() != "data-channel" {
				return nil
			}
			label := v.Get("label").String()
			state := v.Get("state").String()
			labels = append(labels, label+":"+state)
			if !strings.HasPrefix(label, "udp/") {
				return nil // the bootstrap channel
			}
			if state == "open" {
				st.open++
			}
			st.sent += uint64(v.Get("messagesSent").Float())
			st.received += uint64(v.Get("messagesReceived").Float())
			return nil
		})
		report.Call("forEach", each)
		each.Release()
	}
	st.labels = "[" + strings.Join(labels, " ") + "]"
	return st, nil
}

// localCandidates lists the browser's local ICE candidate addresses (from
// getStats), for the log: with mDNS hiding on they are *.local names.
func localCandidates(pcs js.Value) string {
	var out []string
	for i := range pcs.Length() {
		report, err := await(pcs.Index(i).Call("getStats"))
		if err != nil {
			return "?"
		}
		each := js.FuncOf(func(_ js.Value, args []js.Value) any {
			v := args[0]
			if v.Get("type").String() == "local-candidate" {
				out = append(out, v.Get("address").String()+"/"+v.Get("candidateType").String())
			}
			return nil
		})
		report.Call("forEach", each)
		each.Release()
	}
	return "[" + strings.Join(out, " ") + "]"
}

// await waits for a JavaScript promise.
func await(p js.Value) (js.Value, error) {
	type res struct {
		v   js.Value
		err error
	}
	ch := make(chan res, 1)
	then := js.FuncOf(func(_ js.Value, args []js.Value) any { ch <- res{v: args[0]}; return nil })
	catch := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- res{err: errors.New(js.Global().Get("String").Invoke(args[0]).String())}
		return nil
	})
	defer then.Release()
	defer catch.Release()
	p.Call("then", then, catch)
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(10 * time.Second):
		return js.Value{}, errors.New("promise not settled in 10s")
	}
}
