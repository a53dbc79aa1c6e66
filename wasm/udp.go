//go:build js

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/sockshim/sockshim/shim"
)

// udpSocket is a DatagramSocket driven from JavaScript: the read loop hands
// over one datagram per granted credit, the write loop sends them in order.
type udpSocket struct {
	b      *bridge
	id     int
	d      *shim.DatagramSocket
	bound  bool
	mu     sync.Mutex
	reason string // why datagrams use the WebSocket, when lowLatency was asked for
	credit int
	closed bool
	queue  []dgram
	wake   chan struct{}
	wwake  chan struct{}
	done   chan struct{}
	dests  map[string]io.Writer // bound sockets: one writer per destination

	sent, received atomic.Int64
}

type dgram struct {
	data       []byte
	host, port string
}

// openUDP opens {id, remoteAddress, remotePort} (connected) or
// {id, localAddress, localPort} (bound); lowLatency asks for a WebRTC data
// channel, which needs RTCPeerConnection: a dedicated Worker has none, so
// there the socket stays on the WebSocket and says why.
func (b *bridge) openUDP(id int, a js.Value) (any, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	op := &opening{cancel: cancel}
	if err := b.add(id, op); err != nil {
		return nil, err
	}
	u := &udpSocket{b: b, id: id, d: shim.NewDatagramSocket(b.transport),
		wake: make(chan struct{}, 1), wwake: make(chan struct{}, 1), done: make(chan struct{}),
		dests: map[string]io.Writer{}}
	lowLatency := false
	if a.Get("lowLatency").Truthy() {
		if js.Global().Get("RTCPeerConnection").Type() != js.TypeFunction {
			u.setReason("lowLatency: RTCPeerConnection does not exist here (a dedicated Worker has none), so datagrams use the WebSocket; load({worker: false}) for a WebRTC data channel")
		} else {
			lowLatency = true
			u.d.Control().SetQualityOfService(shim.QualityOfServiceLowLatency)
		}
	}
	if v := a.Get("receiveBufferSize"); v.Type() == js.TypeNumber && v.Int() > 0 {
		u.d.Control().SetInboundBufferSizeInBytes(uint32(v.Int()))
	}
	err := func() error {
		if remote := a.Get("remoteAddress"); remote.Type() == js.TypeString {
			host, err := shim.NewHostName(remote.String())
			if err != nil {
				return err
			}
			return u.d.Connect(ctx, host, portString(a.Get("remotePort")))
		}
		u.bound = true
		local, err := hostArg(a.Get("localAddress"))
		if err != nil {
			return err
		}
		return u.d.BindEndpoint(ctx, local, portString(a.Get("localPort")))
	}()
	if err != nil {
		u.d.Close()
		b.replace(id, op, nil)
		return nil, err
	}
	if !b.replace(id, op, u) {
		u.d.Close()
		return nil, fmt.Errorf("open: socket closed while opening: %w", context.Canceled)
	}
	go u.readLoop()
	go u.writeLoop()
	if lowLatency {
		go u.watchChannel()
	}
	return u.describe(), nil
}

// channelWait is how long a lowLatency socket's data channel may take to
// open before info() and the log say that it did not: the client's own
// limit (15 s, after which it gives up on the channel) and a second.
const channelWait = 16 * time.Second

// watchChannel gives the socket's data channel channelWait to open. Where
// it does not (the relay offers no WebRTC, or ICE finds no candidate pair:
// Firefox offers no loopback candidate, so a relay on 127.0.0.1 is out of
// its reach), the datagrams keep to the WebSocket and the socket says why,
// instead of falling back silently.
func (u *udpSocket) watchChannel() {
	deadline := time.NewTimer(channelWait)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-u.done:
			return
		case <-tick.C:
			if u.d.UsesDataChannel() {
				return
			}
		case <-deadline.C:
			if !u.d.UsesDataChannel() {
				u.setReason(fmt.Sprintf("lowLatency: the WebRTC data channel to the relay did not open within %v (the relay offers no WebRTC, or ICE found no candidate pair: Firefox, for one, offers no loopback candidate; see the browser's console), so datagrams use the WebSocket", channelWait))
			}
			return
		}
	}
}

// setReason records and logs why the socket's datagrams use the WebSocket.
func (u *udpSocket) setReason(why string) {
	u.mu.Lock()
	u.reason = why
	u.mu.Unlock()
	u.b.logf("sockshim: UDPSocket %d: %s", u.id, why)
}

func (u *udpSocket) describe() js.Value {
	info := u.d.Information()
	o := jsObject.New()
	o.Set("id", u.id)
	setAddr(o, "remoteAddress", "remotePort", info.RemoteAddress, info.RemotePort)
	setAddr(o, "localAddress", "localPort", info.LocalAddress, info.LocalPort)
	return o
}

func (u *udpSocket) info() js.Value {
	o := u.describe()
	transport := "websocket"
	if u.d.UsesDataChannel() {
		transport = "datachannel"
	}
	o.Set("transport", transport)
	u.mu.Lock()
	reason := u.reason
	u.mu.Unlock()
	if reason != "" && transport == "websocket" {
		o.Set("transportReason", reason)
	}
	o.Set("relay", u.b.relayURL)
	o.Set("datagramsSent", float64(u.sent.Load()))
	o.Set("datagramsReceived", float64(u.received.Load()))
	return o
}

func (u *udpSocket) pull(n int) {
	u.mu.Lock()
	u.credit += n
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *udpSocket) readLoop() {
	buf := make([]byte, 64<<10)
	for {
		u.mu.Lock()
		for !u.closed && u.credit <= 0 {
			u.mu.Unlock()
			select {
			case <-u.wake:
			case <-u.done:
				return
			}
			u.mu.Lock()
		}
		u.mu.Unlock()
		n, from, err := u.d.ReadFrom(buf)
		u.mu.Lock()
		closed := u.closed
		if err == nil {
			u.credit--
		}
		u.mu.Unlock()
		if closed || (err != nil && isTransferring(u)) {
			return // broker.go: a transfer closed the socket under the read
		}
		if err != nil {
			u.b.emit("end", u.id, errorValue(err))
			return
		}
		u.received.Add(1)
		host, port := "", 0
		if ua, ok := from.(*net.UDPAddr); ok {
			ap := ua.AddrPort()
			host, port = ap.Addr().Unmap().String(), int(ap.Port())
		}
		u.b.emit("dgram", u.id, newBytes(buf[:n]), host, port)
	}
}

// send queues one datagram; host and port are required on a bound socket
// and must be absent on a connected one (web/sockshim.js checks).
func (u *udpSocket) send(data, host, port js.Value) {
	d := dgram{data: make([]byte, data.Get("byteLength").Int())}
	js.CopyBytesToGo(d.data, data)
	if host.Type() == js.TypeString {
		d.host, d.port = host.String(), portString(port)
	}
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	u.queue = append(u.queue, d)
	u.mu.Unlock()
	select {
	case u.wwake <- struct{}{}:
	default:
	}
}

func (u *udpSocket) writeLoop() {
	for {
		u.mu.Lock()
		for len(u.queue) == 0 && !u.closed {
			u.mu.Unlock()
			select {
			case <-u.wwake:
			case <-u.done:
			}
			u.mu.Lock()
		}
		if u.closed {
			u.mu.Unlock()
			return
		}
		q := u.queue
		u.queue = nil
		u.mu.Unlock()
		// One "sent" for the batch (a "werr" counts its datagram as done).
		done := 0
		for _, d := range q {
			if err := u.write(d); err != nil {
				if done > 0 {
					u.b.emit("sent", u.id, done)
					done = 0
				}
				u.b.emit("werr", u.id, errorValue(err))
				continue
			}
			u.sent.Add(1)
			done++
		}
		if done > 0 {
			u.b.emit("sent", u.id, done)
		}
	}
}

func (u *udpSocket) write(d dgram) error {
	if d.host == "" {
		_, err := u.d.Write(d.data)
		return err
	}
	key := net.JoinHostPort(d.host, d.port)
	w := u.dests[key]
	if w == nil {
		host, err := shim.NewHostName(d.host)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if w, err = u.d.GetOutputStream(ctx, host, d.port); err != nil {
			return err
		}
		if len(u.dests) > 64 {
			clear(u.dests)
		}
		u.dests[key] = w
	}
	_, err := w.Write(d.data)
	return err
}

func (u *udpSocket) close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	close(u.done)
	u.mu.Unlock()
	err := u.d.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
