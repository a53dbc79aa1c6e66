//go:build js

package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/sockshim/sockshim/shim"
)

// readBufSize bounds one read of the read loop and so one "data" chunk: 256
// KiB, the relay window of a stream, so a full window is one message to
// the page. The buffer is the socket's own and reused.
const readBufSize = 256 << 10

// coalesceMax is how many bytes of small queued writes the write loop joins
// into one Write (one DATA packet): the Wisp client's MaxPayload.
const coalesceMax = 64 << 10

// smallWrites holds write buffers of up to coalesceMax bytes.
var smallWrites = sync.Pool{New: func() any { b := make([]byte, 0, coalesceMax); return &b }}

// tcpSocket is a StreamSocket driven from JavaScript: a read loop that
// reads as much as the page granted (pull) into one buffer, and a write loop
// that drains the queue write() fills, in order with closeWrite and
// startTls.
type tcpSocket struct {
	b    *bridge
	id   int
	s    *shim.StreamSocket
	host *shim.HostName

	mu      sync.Mutex
	credit  int  // bytes the page can take
	paused  bool // startTls is swapping the connection under the read loop
	closed  bool
	werr    error      // the write side failed: later writes are dropped
	queue   []wjob     // for the write loop
	readMu  sync.Mutex // held by the read loop across each Read
	wake    chan struct{}
	wwake   chan struct{}
	done    chan struct{}
	started time.Time

	bytesIn, bytesOut atomic.Int64
	sample            rateSample // the counters at the previous info() (mu)
}

// rateSample is a socket's byte counters at one moment.
type rateSample struct {
	at      time.Time
	in, out int64
}

// wjob is a write (data) or an operation ordered after the writes before
// it (ctl, whose error goes to res).
type wjob struct {
	data *[]byte
	ctl  func() error
	res  chan error
}

func newTCPSocket(b *bridge, id int, s *shim.StreamSocket, host *shim.HostName) *tcpSocket {
	return &tcpSocket{
		b: b, id: id, s: s, host: host,
		wake: make(chan struct{}, 1), wwake: make(chan struct{}, 1), done: make(chan struct{}),
		started: time.Now(),
	}
}

func (t *tcpSocket) start() {
	go t.readLoop()
	go t.writeLoop()
}

// openTCP connects a socket: {id, host, port, secureTransport ("off", "on":
// TLS here, "relay": TLS by the relay), serverName, caPEM, noDelay,
// keepAliveDelay, sendBufferSize, hopLimit, serializeConnectionAttempts}.
// close(id) during the connect cancels it.
func (b *bridge) openTCP(id int, a js.Value) (any, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	op := &opening{cancel: cancel}
	if err := b.add(id, op); err != nil {
		return nil, err
	}
	t, err := b.connectTCP(ctx, id, a)
	if err != nil {
		b.replace(id, op, nil)
		return nil, err
	}
	if !b.replace(id, op, t) {
		t.s.Close()
		return nil, fmt.Errorf("connect: socket closed while connecting: %w", context.Canceled)
	}
	t.start()
	return t.describe(), nil
}

func (b *bridge) connectTCP(ctx context.Context, id int, a js.Value) (*tcpSocket, error) {
	host, err := hostArg(a.Get("host"))
	if err != nil {
		return nil, err
	}
	s := shim.NewStreamSocket(b.transport)
	if v := a.Get("noDelay"); v.Type() == js.TypeBoolean {
		s.Control().SetNoDelay(v.Bool())
	}
	if v := a.Get("keepAliveDelay"); v.Type() == js.TypeNumber && v.Int() > 0 {
		s.Control().SetKeepAlive(true)
	}
	// Direct Sockets' sendBufferSize and sockshim's hopLimit and
	// serializeConnectionAttempts: the real connection's options, which a
	// relay without sockshim's TCP control extension refuses
	// (NotSupportedError) rather than drops.
	if v := a.Get("sendBufferSize"); v.Type() == js.TypeNumber && v.Int() > 0 {
		s.Control().SetOutboundBufferSizeInBytes(uint32(min(v.Int(), 1<<31-1)))
	}
	if v := a.Get("hopLimit"); v.Type() == js.TypeNumber && v.Int() > 0 && v.Int() < 256 {
		s.Control().SetOutboundUnicastHopLimit(uint8(v.Int()))
	}
	if v := a.Get("serializeConnectionAttempts"); v.Type() == js.TypeBoolean {
		s.Control().SetSerializeConnectionAttempts(v.Bool())
	}
	if v := a.Get("caPEM"); v.Type() == js.TypeString && v.String() != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(v.String())) {
			return nil, fmt.Errorf("caPEM holds no PEM certificate: %w", shim.ErrInvalidArgument)
		}
		s.Control().SetTrustedRoots(pool)
	}
	t := newTCPSocket(b, id, s, host)
	if sn := a.Get("serverName"); sn.Type() == js.TypeString && sn.String() != "" {
		if t.host, err = shim.NewHostName(sn.String()); err != nil {
			return nil, err
		}
	}
	port := portString(a.Get("port"))
	switch mode := a.Get("secureTransport").String(); {
	case mode == "relay" && t.host != host && (host == nil || t.host.CanonicalName() != host.CanonicalName()):
		// Relay TLS sends the remote address as the server name and checks
		// the certificate against it: there is no separate name to send.
		err = fmt.Errorf("serverName with secureTransport \"relay\": %w (the relay checks the certificate against the remote address; use secureTransport \"on\")", shim.ErrNotSupported)
	case mode == "relay":
		// sockshim's: TLS done by the relay (ProtectionLevelRelayTls), not
		// end to end. caPEM and the real socket's options are refused
		// with ErrNotSupported there, as in Go.
		err = s.ConnectWithProtectionLevel(ctx, host, port, shim.ProtectionLevelRelayTls)
	case mode == "on" && t.host == host:
		err = s.ConnectWithProtectionLevel(ctx, host, port, shim.ProtectionLevelSsl)
	case mode == "on":
		if err = s.Connect(ctx, host, port); err == nil {
			if err = s.UpgradeToSsl(ctx, shim.ProtectionLevelSsl, t.host); err != nil {
				s.Close()
			}
		}
	default:
		err = s.Connect(ctx, host, port)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// replace swaps the table's entry for id from old to new (nil: delete), if
// it is still old.
func (b *bridge) replace(id int, old, new closer) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.objs[id] != old {
		return false
	}
	if new == nil {
		delete(b.objs, id)
	} else {
		b.objs[id] = new
	}
	return true
}

// describe is the socket's open info for JavaScript.
func (t *tcpSocket) describe() js.Value {
	info := t.s.Information()
	o := jsObject.New()
	o.Set("id", t.id)
	setAddr(o, "remoteAddress", "remotePort", info.RemoteAddress, info.RemotePort)
	setAddr(o, "localAddress", "localPort", info.LocalAddress, info.LocalPort)
	o.Set("protectionLevel", info.ProtectionLevel.String())
	if c := info.ServerCertificate; c != nil {
		o.Set("serverCertificate", c.Subject.String())
	}
	return o
}

// info: statistics for socket.info().
func (t *tcpSocket) info() js.Value {
	o := t.describe()
	o.Set("transport", "websocket")
	o.Set("relay", t.b.relayURL)
	o.Set("bytesSent", float64(t.bytesOut.Load()))
	o.Set("bytesReceived", float64(t.bytesIn.Load()))
	o.Set("openMs", float64(time.Since(t.started).Milliseconds()))
	o.Set("bandwidthStatistics", t.bandwidth())
	t.statistics(o)
	return o
}

// statistics adds what StreamSocket.RefreshInformation reads (two round
// trips through the tunnel): the real connection's round trips and
// bandwidth from the relay's TCP_INFO, and the tab's own round trips to
// the relay. A relay that cannot say leaves them out and says why in
// statisticsError.
func (t *tcpSocket) statistics(o js.Value) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	si, err := t.s.RefreshInformation(ctx)
	rtt := func(r shim.RoundTripTimeStatistics) js.Value {
		v := jsObject.New()
		v.Set("min", r.Min)
		v.Set("max", r.Max)
		v.Set("sum", r.Sum)
		v.Set("variance", r.Variance)
		return v
	}
	if si.TunnelRoundTripTimeStatistics != (shim.RoundTripTimeStatistics{}) {
		o.Set("tunnelRoundTripTimeStatistics", rtt(si.TunnelRoundTripTimeStatistics))
	}
	if err != nil {
		o.Set("statisticsError", err.Error())
		return
	}
	o.Set("roundTripTimeStatistics", rtt(si.RoundTripTimeStatistics))
	b := si.BandwidthStatistics
	bw := jsObject.New()
	bw.Set("outboundBitsPerSecond", float64(b.OutboundBitsPerSecond))
	bw.Set("inboundBitsPerSecond", float64(b.InboundBitsPerSecond))
	bw.Set("outboundBitsPerSecondInstability", float64(b.OutboundBitsPerSecondInstability))
	bw.Set("inboundBitsPerSecondInstability", float64(b.InboundBitsPerSecondInstability))
	bw.Set("outboundBandwidthPeaked", b.OutboundBandwidthPeaked)
	bw.Set("inboundBandwidthPeaked", b.InboundBandwidthPeaked)
	o.Set("connectionBandwidthStatistics", bw)
}

// bandwidth is WinRT's BandwidthStatistics as this end measures it: the
// bits per second the socket moved through the tunnel in each direction
// over the interval since the previous info() (since open, the first
// time), and that interval in ms.
func (t *tcpSocket) bandwidth() js.Value {
	now := rateSample{at: time.Now(), in: t.bytesIn.Load(), out: t.bytesOut.Load()}
	t.mu.Lock()
	prev := t.sample
	if prev.at.IsZero() {
		prev.at = t.started
	}
	t.sample = now
	t.mu.Unlock()
	dt := now.at.Sub(prev.at).Seconds()
	o := jsObject.New()
	if dt <= 0 {
		dt = 1e-6
	}
	o.Set("inboundBitsPerSecond", float64(now.in-prev.in)*8/dt)
	o.Set("outboundBitsPerSecond", float64(now.out-prev.out)*8/dt)
	o.Set("intervalMs", dt*1000)
	return o
}

func (t *tcpSocket) pull(n int) {
	t.mu.Lock()
	t.credit += n
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// readLoop reads what the page has room for and hands it over as one
// Uint8Array per Read (the Wisp stream's Read drains every queued packet).
func (t *tcpSocket) readLoop() {
	buf := make([]byte, readBufSize)
	for {
		t.mu.Lock()
		for !t.closed && (t.credit <= 0 || t.paused) {
			t.mu.Unlock()
			select {
			case <-t.wake:
			case <-t.done:
				return
			}
			t.mu.Lock()
		}
		if t.closed {
			t.mu.Unlock()
			return
		}
		n := min(t.credit, len(buf))
		t.mu.Unlock()

		t.readMu.Lock()
		t.mu.Lock()
		paused := t.paused
		t.mu.Unlock()
		if paused {
			t.readMu.Unlock()
			continue
		}
		k, err := t.s.Read(buf[:n])
		t.readMu.Unlock()

		t.mu.Lock()
		t.credit -= k
		closed, paused := t.closed, t.paused
		t.mu.Unlock()
		if closed {
			return
		}
		if k > 0 {
			t.bytesIn.Add(int64(k))
			t.b.emit("data", t.id, newBytes(buf[:k]))
		}
		if err != nil {
			if paused && errors.Is(err, os.ErrDeadlineExceeded) {
				continue // startTls interrupted the read; nothing was lost
			}
			if err == io.EOF {
				t.b.emit("end", t.id, nil)
			} else {
				t.b.emit("end", t.id, errorValue(err))
			}
			return
		}
	}
}

// write queues a copy of a Uint8Array for the write loop; it never blocks.
// The page bounds what is queued by the "sent" acknowledgements.
func (t *tcpSocket) write(v js.Value) {
	n := v.Get("byteLength").Int()
	var p *[]byte
	if n <= coalesceMax {
		p = smallWrites.Get().(*[]byte)
		*p = (*p)[:n]
	} else {
		b := make([]byte, n)
		p = &b
	}
	js.CopyBytesToGo(*p, v)
	t.enqueue(wjob{data: p})
}

func (t *tcpSocket) enqueue(j wjob) bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	t.queue = append(t.queue, j)
	t.mu.Unlock()
	select {
	case t.wwake <- struct{}{}:
	default:
	}
	return true
}

// ordered runs fn on the write loop after every write queued before it.
func (t *tcpSocket) ordered(fn func() error) error {
	res := make(chan error, 1)
	if !t.enqueue(wjob{ctl: fn, res: res}) {
		return fmt.Errorf("socket is closed: %w", net.ErrClosed)
	}
	select {
	case err := <-res:
		return err
	case <-t.done:
		return fmt.Errorf("socket closed: %w", net.ErrClosed)
	}
}

func (t *tcpSocket) writeLoop() {
	for {
		t.mu.Lock()
		for len(t.queue) == 0 && !t.closed {
			t.mu.Unlock()
			select {
			case <-t.wwake:
			case <-t.done:
			}
			t.mu.Lock()
		}
		if t.closed {
			t.mu.Unlock()
			return
		}
		jobs := t.queue
		t.queue = nil
		t.mu.Unlock()
		// Acknowledge in bulk: one "sent" per ackEvery bytes or per batch
		// of jobs, not per write.
		acked := 0
		ack := func() {
			if acked > 0 {
				t.b.emit("sent", t.id, acked)
				acked = 0
			}
		}
		for i := 0; i < len(jobs); {
			j := jobs[i]
			i++
			if j.ctl != nil {
				ack()
				j.res <- j.ctl()
				continue
			}
			data := *j.data
			var joined *[]byte
			if i < len(jobs) && jobs[i].ctl == nil && len(data)+len(*jobs[i].data) <= coalesceMax {
				joined = smallWrites.Get().(*[]byte)
				*joined = append((*joined)[:0], data...)
				for i < len(jobs) && jobs[i].ctl == nil && len(*joined)+len(*jobs[i].data) <= coalesceMax {
					*joined = append(*joined, *jobs[i].data...)
					putWrite(jobs[i].data)
					i++
				}
				data = *joined
			}
			n, err := t.writeData(data)
			putWrite(j.data)
			if joined != nil {
				putWrite(joined)
			}
			if err != nil {
				ack()
				t.b.emit("werr", t.id, errorValue(err))
				continue
			}
			if acked += n; acked >= ackEvery {
				ack()
			}
		}
		ack()
	}
}

// ackEvery bounds the bytes one "sent" acknowledges, so the page's
// writer.ready resumes while a long queue is still being written.
const ackEvery = 256 << 10

func putWrite(p *[]byte) {
	if cap(*p) == coalesceMax {
		smallWrites.Put(p)
	}
}

func (t *tcpSocket) writeData(b []byte) (int, error) {
	t.mu.Lock()
	werr := t.werr
	t.mu.Unlock()
	if werr != nil {
		return 0, werr
	}
	n, err := t.s.Write(b)
	t.bytesOut.Add(int64(n))
	if err != nil {
		t.mu.Lock()
		t.werr = err
		t.mu.Unlock()
	}
	return n, err
}

// closeWrite sends FIN after every queued write (the writable's close()).
func (t *tcpSocket) closeWrite() error {
	return t.ordered(func() error {
		t.mu.Lock()
		werr := t.werr
		t.mu.Unlock()
		if werr != nil {
			return werr
		}
		return t.s.CloseWrite()
	})
}

// startTLS upgrades a "starttls" socket once every queued write is sent:
// the read loop is stopped (a pending Read is interrupted by a deadline,
// which loses nothing), the handshake runs, and reads resume through TLS.
func (t *tcpSocket) startTLS(a js.Value) (any, error) {
	err := t.ordered(func() error {
		t.mu.Lock()
		t.paused = true
		t.mu.Unlock()
		t.s.SetReadDeadline(time.Unix(1, 0))
		t.readMu.Lock()
		defer func() {
			t.mu.Lock()
			t.paused = false
			t.mu.Unlock()
			t.readMu.Unlock()
			t.pull(0)
		}()
		t.s.SetReadDeadline(time.Time{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-t.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		return t.s.UpgradeToSsl(ctx, shim.ProtectionLevelSsl, t.host)
	})
	if err != nil {
		return nil, err
	}
	return t.describe(), nil
}

func (t *tcpSocket) close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.done)
	t.mu.Unlock()
	err := t.s.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
