//go:build js

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall/js"
	"time"

	"github.com/sockshim/sockshim/shim"
)

// The socket broker from JavaScript (web/sockshim.js: transferOwnership on
// TCPSocket, TCPServerSocket and UDPSocket; sockshim.allSockets() and each
// entry's reclaim()). Ops:
//
//	broker.transfer {id, socketId, taskId, context: Uint8Array, keepAliveTime: ms}
//	broker.list     {} -> [{socketId, kind, reason, taskId, context, buffered}]
//	broker.reclaim  {id (new), socketId, kind} -> the socket's open info
//	broker.push     {endpoint ("" removes), p256dh: Uint8Array, auth: Uint8Array}

// brokerTimeout bounds a list or reclaim.
const brokerTimeout = 30 * time.Second

// transferring marks sockets whose transfer is under way: their read or
// accept loop ends quietly when the transfer closes the socket under it.
var transferring sync.Map // closer -> struct{}

func isTransferring(o closer) bool {
	_, ok := transferring.Load(o)
	return ok
}

var heldKinds = map[shim.SocketActivityKind]string{
	shim.SocketActivityKindStreamSocket:         "TCPSocket",
	shim.SocketActivityKindStreamSocketListener: "TCPServerSocket",
	shim.SocketActivityKindDatagramSocket:       "UDPSocket",
}

func (b *bridge) brokerCall(op string, a js.Value) (any, error) {
	switch op {
	case "broker.list":
		return b.listHeld()
	case "broker.reclaim":
		return b.reclaim(a)
	case "broker.transfer":
		return nil, b.transfer(a)
	case "broker.push":
		return nil, b.setPush(a)
	}
	return nil, fmt.Errorf("sockshim: no operation %q: %w", op, shim.ErrInvalidArgument)
}

func (b *bridge) transfer(a js.Value) error {
	id := a.Get("id").Int()
	socketID := a.Get("socketId").String()
	task := ""
	if v := a.Get("taskId"); v.Type() == js.TypeString {
		task = v.String()
	}
	opts := &shim.TransferOptions{}
	if v := a.Get("context"); v.Type() == js.TypeObject {
		opts.Context = make([]byte, v.Get("byteLength").Int())
		js.CopyBytesToGo(opts.Context, v)
	}
	if v := a.Get("keepAliveTime"); v.Type() == js.TypeNumber {
		opts.KeepAliveTime = time.Duration(v.Int()) * time.Millisecond
	}
	o := b.get(id)
	if o == nil {
		return fmt.Errorf("transferOwnership: %w", net.ErrClosed)
	}
	transferring.Store(o, struct{}{})
	defer transferring.Delete(o)
	var err error
	switch s := o.(type) {
	case *tcpSocket:
		err = s.transfer(socketID, task, opts)
	case *serverSocket:
		s.l.EnableTransferOwnership(task)
		if err = s.l.TransferOwnership(socketID, opts); err == nil {
			s.mu.Lock()
			if !s.closed {
				s.closed = true
				close(s.done)
			}
			s.mu.Unlock()
		}
	case *udpSocket:
		// Datagrams the page wrote and the write loop has not sent yet
		// may be lost, as UDP may lose them.
		s.d.EnableTransferOwnership(task)
		if err = s.d.TransferOwnership(socketID, opts); err == nil {
			s.mu.Lock()
			if !s.closed {
				s.closed = true
				close(s.done)
			}
			s.mu.Unlock()
		}
	default:
		return fmt.Errorf("transferOwnership: socket %d is still opening: %w", id, shim.ErrInvalidArgument)
	}
	if err != nil {
		return err
	}
	b.replace(id, o, nil)
	return nil
}

// transfer hands the stream to the broker after every write queued before:
// the read loop is stopped first (as for startTls), so what it has not
// handed to the page goes to the broker.
func (t *tcpSocket) transfer(socketID, task string, opts *shim.TransferOptions) error {
	err := t.ordered(func() error {
		t.mu.Lock()
		t.paused = true
		t.mu.Unlock()
		t.s.SetReadDeadline(time.Unix(1, 0))
		t.readMu.Lock()
		defer t.readMu.Unlock()
		t.s.SetReadDeadline(time.Time{})
		t.s.EnableTransferOwnership(task)
		if err := t.s.TransferOwnership(socketID, opts); err != nil {
			t.mu.Lock()
			t.paused = false
			t.mu.Unlock()
			t.pull(0)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.done)
	}
	t.mu.Unlock()
	return nil
}

func (b *bridge) allSockets() (map[string]*shim.SocketActivityInformation, error) {
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	return shim.AllSockets(ctx, b.transport)
}

func (b *bridge) listHeld() (any, error) {
	all, err := b.allSockets()
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := js.Global().Get("Array").New()
	for _, id := range ids {
		i := all[id]
		o := jsObject.New()
		o.Set("socketId", i.ID)
		o.Set("kind", heldKinds[i.SocketKind])
		o.Set("reason", i.Reason.String())
		o.Set("taskId", i.TaskID)
		o.Set("context", newBytes(i.Context))
		o.Set("buffered", i.Buffered)
		out.Call("push", o)
	}
	return out, nil
}

// reclaim attaches a held socket under the page's new id and starts it as
// an open TCPSocket, TCPServerSocket or UDPSocket.
func (b *bridge) reclaim(a js.Value) (any, error) {
	id, socketID, kind := a.Get("id").Int(), a.Get("socketId").String(), a.Get("kind").String()
	all, err := b.allSockets()
	if err != nil {
		return nil, err
	}
	i := all[socketID]
	if i == nil || heldKinds[i.SocketKind] != kind {
		return nil, fmt.Errorf("reclaim: the broker holds no %s %q for this app (reclaimed already, or its lease ended): %w", kind, socketID, shim.ErrInvalidArgument)
	}
	switch i.SocketKind {
	case shim.SocketActivityKindStreamSocket:
		s, err := i.StreamSocket()
		if err != nil {
			return nil, err
		}
		t := newTCPSocket(b, id, s, nil)
		if err := b.add(id, t); err != nil {
			s.Close()
			return nil, err
		}
		t.start()
		return t.describe(), nil
	case shim.SocketActivityKindStreamSocketListener:
		l, err := i.StreamSocketListener()
		if err != nil {
			return nil, err
		}
		srv := &serverSocket{b: b, id: id, l: l, wake: make(chan struct{}, 1), done: make(chan struct{})}
		if err := b.add(id, srv); err != nil {
			l.Close()
			return nil, err
		}
		go srv.acceptLoop()
		return srv.info(), nil
	default:
		d, err := i.DatagramSocket()
		if err != nil {
			return nil, err
		}
		u := &udpSocket{b: b, id: id, d: d, bound: d.RemoteAddr() == nil,
			wake: make(chan struct{}, 1), wwake: make(chan struct{}, 1), done: make(chan struct{}),
			dests: map[string]io.Writer{}}
		if err := b.add(id, u); err != nil {
			d.Close()
			return nil, err
		}
		go u.readLoop()
		go u.writeLoop()
		return u.describe(), nil
	}
}

// setPush registers the app's Web Push subscription with the broker.
func (b *bridge) setPush(a js.Value) error {
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	endpoint := a.Get("endpoint").String()
	if endpoint == "" {
		return shim.SetPushSubscription(ctx, b.transport, nil)
	}
	sub := &shim.PushSubscription{Endpoint: endpoint}
	for _, k := range []struct {
		name string
		dst  *[]byte
	}{{"p256dh", &sub.P256dh}, {"auth", &sub.Auth}} {
		v := a.Get(k.name)
		*k.dst = make([]byte, v.Get("byteLength").Int())
		js.CopyBytesToGo(*k.dst, v)
	}
	return shim.SetPushSubscription(ctx, b.transport, sub)
}
