//go:build js

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall/js"

	"github.com/sockshim/sockshim/shim"
)

// serverSocket is a StreamSocketListener held by the relay; each accepted
// connection, as the page grants credit, becomes a tcpSocket with a
// bridge-chosen id.
type serverSocket struct {
	b  *bridge
	id int
	l  *shim.StreamSocketListener

	mu     sync.Mutex
	credit int
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

// openServer binds {id, localAddress, localPort} on the relay.
func (b *bridge) openServer(id int, a js.Value) (any, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	op := &opening{cancel: cancel}
	if err := b.add(id, op); err != nil {
		return nil, err
	}
	srv := &serverSocket{b: b, id: id, l: shim.NewStreamSocketListener(b.transport),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	err := func() error {
		local, err := hostArg(a.Get("localAddress"))
		if err != nil {
			return err
		}
		return srv.l.BindEndpoint(ctx, local, portString(a.Get("localPort")))
	}()
	if err != nil {
		srv.l.Close()
		b.replace(id, op, nil)
		return nil, err
	}
	if !b.replace(id, op, srv) {
		srv.l.Close()
		return nil, fmt.Errorf("listen: socket closed while binding: %w", context.Canceled)
	}
	go srv.acceptLoop()
	return srv.info(), nil
}

func (srv *serverSocket) info() js.Value {
	info := srv.l.Information()
	o := jsObject.New()
	o.Set("id", srv.id)
	host := info.ReachableHostName
	if host == nil {
		host = info.LocalAddress
	}
	setAddr(o, "localAddress", "localPort", host, info.LocalPort)
	return o
}

func (srv *serverSocket) pull(n int) {
	srv.mu.Lock()
	srv.credit += n
	srv.mu.Unlock()
	select {
	case srv.wake <- struct{}{}:
	default:
	}
}

func (srv *serverSocket) acceptLoop() {
	for {
		srv.mu.Lock()
		for !srv.closed && srv.credit <= 0 {
			srv.mu.Unlock()
			select {
			case <-srv.wake:
			case <-srv.done:
				return
			}
			srv.mu.Lock()
		}
		srv.mu.Unlock()
		c, err := srv.l.Accept()
		srv.mu.Lock()
		closed := srv.closed
		if err == nil {
			srv.credit--
		}
		srv.mu.Unlock()
		if closed {
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil && isTransferring(srv) {
			return // broker.go: the relay holds the listener now
		}
		if err != nil {
			srv.b.emit("end", srv.id, errorValue(err))
			return
		}
		s := c.(*shim.StreamSocket)
		t := newTCPSocket(srv.b, 0, s, nil)
		t.id = srv.b.addNew(t)
		t.start()
		srv.b.emit("accept", srv.id, t.describe())
	}
}

func (srv *serverSocket) close() error {
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		return nil
	}
	srv.closed = true
	close(srv.done)
	srv.mu.Unlock()
	err := srv.l.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
