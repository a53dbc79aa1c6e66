package shim

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// The socket broker, mirroring WinRT's SocketActivityTrigger model
// (https://learn.microsoft.com/windows/uwp/networking/sockets, "Socket
// broker and the SocketActivityTrigger"): an app hands an open StreamSocket,
// StreamSocketListener or DatagramSocket to the broker with TransferOwnership and may then
// go away (a page reload, a closed tab). Through a sockshim relay the relay
// is the broker: it holds the real socket on a lease, outside every session,
// buffering what arrives (1 MiB per socket by default; past it the peer is
// pushed back by TCP flow control, nothing is dropped; a held DatagramSocket
// drops datagrams past its bound instead, as UDP has no flow control). A
// held listener goes on accepting and holds each connection too. Later, a session of the same
// app (the same credential, or the same origin for an anonymous app) finds
// them with AllSockets and reclaims them; another app never sees them.

// ownership is a socket's EnableTransferOwnership state.
type ownership struct {
	enabled bool
	taskID  string
}

// TransferOptions are TransferOwnership's optional arguments.
type TransferOptions struct {
	// Context is handed back with the socket by AllSockets (WinRT's
	// SocketActivityContext); at most 4096 bytes.
	Context []byte
	// KeepAliveTime, if set, makes the broker report
	// TriggerReasonKeepAliveTimerExpired for a socket that saw nothing else
	// in that long (whole seconds, at least 1), and keeps the socket held:
	// each keep-alive tick renews its lease (the relay's app config: 10
	// minutes by default) to KeepAliveTime plus the lease, up to the app's
	// broker.maxLeaseSeconds (1 hour by default) after the app's last
	// contact. Without it the lease runs from the transfer. An AllSockets
	// call renews every lease and counts as contact.
	KeepAliveTime time.Duration
}

// transferTimeout bounds TransferOwnership and the reclaims, which take no
// context (as in WinRT).
const transferTimeout = 30 * time.Second

// SocketActivityKind mirrors
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.socketactivitykind.
type SocketActivityKind uint8

const (
	SocketActivityKindNone SocketActivityKind = iota
	SocketActivityKindStreamSocketListener
	SocketActivityKindDatagramSocket
	SocketActivityKindStreamSocket
)

func (k SocketActivityKind) String() string {
	switch k {
	case SocketActivityKindStreamSocketListener:
		return "StreamSocketListener"
	case SocketActivityKindDatagramSocket:
		return "DatagramSocket"
	case SocketActivityKindStreamSocket:
		return "StreamSocket"
	}
	return "None"
}

// SocketActivityTriggerReason mirrors
// https://learn.microsoft.com/uwp/api/windows.applicationmodel.background.socketactivitytriggerreason:
// why a held socket wants its app. The zero value is unknown (nothing
// happened yet).
type SocketActivityTriggerReason uint8

const (
	TriggerReasonUnknown SocketActivityTriggerReason = iota
	// TriggerReasonSocketActivity: data arrived.
	TriggerReasonSocketActivity
	// TriggerReasonConnectionAccepted: a held listener accepted a
	// connection (held too: its own entry in AllSockets), or this is that
	// connection.
	TriggerReasonConnectionAccepted
	// TriggerReasonKeepAliveTimerExpired: TransferOptions.KeepAliveTime
	// passed with nothing else happening.
	TriggerReasonKeepAliveTimerExpired
	// TriggerReasonSocketClosed: the peer closed; what it sent before is
	// still delivered after a reclaim.
	TriggerReasonSocketClosed
)

func (r SocketActivityTriggerReason) String() string {
	switch r {
	case TriggerReasonSocketActivity:
		return "SocketActivity"
	case TriggerReasonConnectionAccepted:
		return "ConnectionAccepted"
	case TriggerReasonKeepAliveTimerExpired:
		return "KeepAliveTimerExpired"
	case TriggerReasonSocketClosed:
		return "SocketClosed"
	}
	return "Unknown"
}

// SocketActivityInformation is one socket the broker holds, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.socketactivityinformation.
type SocketActivityInformation struct {
	ID         string
	SocketKind SocketActivityKind
	TaskID     string
	Context    []byte
	Reason     SocketActivityTriggerReason
	// Buffered is what the broker holds unread for the socket, in bytes.
	Buffered int

	t *relayTransport
}

// errNoBroker is the error of a broker call on a transport without one.
func errNoBroker(t Transport) error {
	if _, ok := t.(*relayTransport); ok {
		return nil
	}
	return errf("socket broker on %s: %w (only a sockshim relay, RelayTransport, holds sockets for an app that is away)", t, ErrNotSupported)
}

func brokerErr(err error) error {
	if errors.Is(err, wispclient.ErrNoBroker) {
		return &edgeError{status: SocketErrorUnknown, kind: ErrNotSupported, err: err}
	}
	return relayErr(err)
}

func toTransfer(socketID, task string, o *TransferOptions) (wisp.Transfer, error) {
	t := wisp.Transfer{SocketID: socketID, TaskID: task}
	if o != nil {
		t.Context, t.KeepAlive = o.Context, o.KeepAliveTime.Truncate(time.Second)
		if o.KeepAliveTime > 0 && t.KeepAlive == 0 {
			t.KeepAlive = time.Second
		}
	}
	if err := wisp.ValidTransfer(t); err != nil {
		return t, errf("%v: %w", err, ErrInvalidArgument)
	}
	return t, nil
}

var errNotEnabled = errf("call EnableTransferOwnership before TransferOwnership: %w", ErrInvalidArgument)

// EnableTransferOwnership lets the socket be handed to the broker later;
// taskID names the background task that handles its activity (WinRT: a
// task's GUID), and AllSockets reports it.
func (s *StreamSocket) EnableTransferOwnership(taskID string) {
	s.mu.Lock()
	s.own = ownership{enabled: true, taskID: taskID}
	s.mu.Unlock()
}

// TransferOwnership hands the connected socket to the broker under socketID
// (unique among the app's held sockets). The socket is closed here when it
// returns nil: data it had received and not been read goes to the broker,
// ahead of what arrives later. A TLS socket cannot be transferred (its
// keys are in this process), nor a socket on a transport without a broker
// (errors wrap ErrNotSupported).
func (s *StreamSocket) TransferOwnership(socketID string, opts *TransferOptions) error {
	s.mu.Lock()
	c, own, tlsOn, t := s.conn, s.own, s.tlsConn != nil, s.Transport
	s.mu.Unlock()
	if t == nil {
		t = DefaultTransport
	}
	switch {
	case c == nil:
		return wrapErr("transfer", "", errNotConnected)
	case !own.enabled:
		return wrapErr("transfer", "", errNotEnabled)
	case tlsOn:
		return wrapErr("transfer", "", errf("a TLS socket: %w (the session keys live in this process)", ErrNotSupported))
	}
	rc, ok := c.(relayConn)
	if err := transfer(t, own, socketID, opts, s.addr(), c, ok, func(ctx context.Context, tr wisp.Transfer) error {
		return rc.Stream.Transfer(ctx, tr)
	}); err != nil {
		return err
	}
	s.mu.Lock()
	s.closed, s.conn = true, nil
	s.mu.Unlock()
	return nil
}

// transfer is TransferOwnership's common part once the socket's own checks
// passed: t must have a broker, the socket must be a relay one (ok), and
// do hands it over under the id and options.
func transfer(t Transport, own ownership, socketID string, opts *TransferOptions, addr string, sock any, ok bool, do func(context.Context, wisp.Transfer) error) error {
	if err := errNoBroker(t); err != nil {
		return wrapErr("transfer", "", err)
	}
	if !ok {
		return wrapErr("transfer", "", errf("%T: %w", sock, ErrNotSupported))
	}
	tr, err := toTransfer(socketID, own.taskID, opts)
	if err != nil {
		return wrapErr("transfer", "", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	if err := do(ctx, tr); err != nil {
		return wrapErr("transfer", addr, brokerErr(err))
	}
	return nil
}

// EnableTransferOwnership lets the listener be handed to the broker later.
func (l *StreamSocketListener) EnableTransferOwnership(taskID string) {
	l.mu.Lock()
	l.own = ownership{enabled: true, taskID: taskID}
	l.mu.Unlock()
}

// TransferOwnership hands the bound listener to the broker under socketID;
// the listener is closed here when it returns nil, and the relay goes on
// accepting on the same port, holding each connection (AllSockets lists
// each as socketID + "/" + n, reason TriggerReasonConnectionAccepted).
// Connections accepted before and not yet taken by Accept are closed.
func (l *StreamSocketListener) TransferOwnership(socketID string, opts *TransferOptions) error {
	l.mu.Lock()
	ln, own, t := l.ln, l.own, l.Transport
	l.mu.Unlock()
	if t == nil {
		t = DefaultTransport
	}
	switch {
	case ln == nil:
		return wrapErr("transfer", "", errf("listener is not bound: %w", ErrInvalidArgument))
	case !own.enabled:
		return wrapErr("transfer", "", errNotEnabled)
	}
	rl, ok := ln.(relayListener)
	if err := transfer(t, own, socketID, opts, "", ln, ok, func(ctx context.Context, tr wisp.Transfer) error {
		return rl.l.Transfer(ctx, tr)
	}); err != nil {
		return err
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return nil
}

// EnableTransferOwnership lets the socket be handed to the broker later.
func (d *DatagramSocket) EnableTransferOwnership(taskID string) {
	d.mu.Lock()
	d.own = ownership{enabled: true, taskID: taskID}
	d.mu.Unlock()
}

// TransferOwnership hands the connected or bound socket to the broker under
// socketID; the socket is closed here when it returns nil, and the relay
// goes on receiving on the same port. Datagrams received and not yet read
// go to the broker first. UDP has no flow control, so the broker keeps at
// most its per-socket bound (1 MiB and 4096 datagrams by default) and drops
// what arrives past it, counting it
// (sockshim_broker_dropped_datagrams_total).
func (d *DatagramSocket) TransferOwnership(socketID string, opts *TransferOptions) error {
	d.mu.Lock()
	c, own, t := d.conn, d.own, d.Transport
	d.mu.Unlock()
	if t == nil {
		t = DefaultTransport
	}
	switch {
	case c == nil:
		return wrapErr("transfer", "", errNotOpen)
	case !own.enabled:
		return wrapErr("transfer", "", errNotEnabled)
	}
	rd, ok := c.(relayDatagram)
	if err := transfer(t, own, socketID, opts, "", c, ok, func(ctx context.Context, tr wisp.Transfer) error {
		return rd.c.Transfer(ctx, tr)
	}); err != nil {
		return err
	}
	d.mu.Lock()
	d.closed, d.conn = true, nil
	d.mu.Unlock()
	return nil
}

// AllSockets returns what the broker holds for this app, by socket id
// (WinRT's SocketActivityInformation.AllSockets). It renews the lease of
// each. A transport without a broker (DirectTransport, plain Wisp servers,
// the edge relay) returns an error wrapping ErrNotSupported.
func AllSockets(ctx context.Context, transport Transport) (map[string]*SocketActivityInformation, error) {
	if transport == nil {
		transport = DefaultTransport
	}
	if err := errNoBroker(transport); err != nil {
		return nil, wrapErr("allsockets", "", err)
	}
	t := transport.(*relayTransport)
	held, err := onSession(t, ctx, func(s *wispclient.Session) ([]wisp.HeldSocket, error) {
		return s.ListHeld(ctx)
	})
	if err != nil {
		return nil, wrapErr("allsockets", "", brokerErr(err))
	}
	out := make(map[string]*SocketActivityInformation, len(held))
	for _, h := range held {
		i := &SocketActivityInformation{ID: h.SocketID, TaskID: h.TaskID, Context: h.Context,
			Reason: SocketActivityTriggerReason(h.Reason), Buffered: int(h.Buffered), t: t}
		switch h.Kind {
		case wisp.HeldStream:
			i.SocketKind = SocketActivityKindStreamSocket
		case wisp.HeldListener:
			i.SocketKind = SocketActivityKindStreamSocketListener
		case wisp.HeldDatagram:
			i.SocketKind = SocketActivityKindDatagramSocket
		}
		out[h.SocketID] = i
	}
	return out, nil
}

func (i *SocketActivityInformation) kindErr(want SocketActivityKind) error {
	if i.t == nil || i.SocketKind != want {
		return errf("socket %q is a %v, not a %v: %w", i.ID, i.SocketKind, want, ErrInvalidArgument)
	}
	return nil
}

// StreamSocket reclaims a held stream: it is attached to this app's session
// and reads what the broker buffered first, in order. A socket reclaimed
// already (or released on its lease's end) fails with ErrInvalidArgument.
func (i *SocketActivityInformation) StreamSocket() (*StreamSocket, error) {
	if err := i.kindErr(SocketActivityKindStreamSocket); err != nil {
		return nil, wrapErr("reclaim", "", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	st, err := onSession(i.t, ctx, func(s *wispclient.Session) (*wispclient.Stream, error) {
		return s.Reclaim(ctx, i.ID)
	})
	if err != nil {
		return nil, wrapErr("reclaim", i.ID, brokerErr(err))
	}
	c := relayConn{st}
	s := &StreamSocket{Transport: i.t, conn: c}
	s.info = StreamSocketInformation{ProtectionLevel: ProtectionLevelPlainSocket}
	s.info.setEndpoints(c)
	s.info.RemoteHostName, s.info.RemoteServiceName = s.info.RemoteAddress, s.info.RemotePort
	return s, nil
}

// StreamSocketListener reclaims a held listener: it accepts on this app's
// session again, on the same port.
func (i *SocketActivityInformation) StreamSocketListener() (*StreamSocketListener, error) {
	if err := i.kindErr(SocketActivityKindStreamSocketListener); err != nil {
		return nil, wrapErr("reclaim", "", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	wl, err := onSession(i.t, ctx, func(s *wispclient.Session) (*wispclient.Listener, error) {
		return s.ReclaimListener(ctx, i.ID)
	})
	if err != nil {
		return nil, wrapErr("reclaim", i.ID, brokerErr(err))
	}
	ln := relayListener{wl}
	l := &StreamSocketListener{Transport: i.t, ln: ln}
	l.info.LocalAddress, l.info.LocalPort = endpoint(tcpAddrPort(ln.addr()))
	if rh, rp := ln.reachable(); rp != 0 {
		l.info.ReachablePort = strconv.Itoa(int(rp))
		if rh != "" {
			l.info.ReachableHostName, _ = NewHostName(rh)
		}
	}
	return l, nil
}

// DatagramSocket reclaims a held UDP socket, connected or bound as it was,
// on the same relay port: the datagrams the broker kept are read first, in
// order of arrival.
func (i *SocketActivityInformation) DatagramSocket() (*DatagramSocket, error) {
	if err := i.kindErr(SocketActivityKindDatagramSocket); err != nil {
		return nil, wrapErr("reclaim", "", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	c, err := onSession(i.t, ctx, func(s *wispclient.Session) (*wispclient.UDPConn, error) {
		return s.ReclaimUDP(ctx, i.ID)
	})
	if err != nil {
		return nil, wrapErr("reclaim", i.ID, brokerErr(err))
	}
	rd := relayDatagram{c}
	d := &DatagramSocket{Transport: i.t, conn: rd}
	d.info.LocalAddress, d.info.LocalPort = endpoint(rd.local())
	d.info.RemoteAddress, d.info.RemotePort = endpoint(rd.remote())
	return d, nil
}

var _ net.Conn = relayConn{}

// PushSubscription is a browser PushSubscription's endpoint and keys
// (getKey("p256dh"), getKey("auth")).
type PushSubscription struct {
	Endpoint     string
	P256dh, Auth []byte
}

// SetPushSubscription registers the app's Web Push subscription with the
// transport's broker; nil removes it. When a held socket of the app has
// activity, the relay sends the subscription an encrypted push message
// (RFC 8030/8291, VAPID-signed per RFC 8292) whose JSON names the socket,
// its kind, the reason and the task id: the service worker it wakes calls
// AllSockets and reclaims. The relay sends at most one per socket and
// reason in its configured interval, and only to the push services its
// config lists for the app.
func SetPushSubscription(ctx context.Context, transport Transport, sub *PushSubscription) error {
	if transport == nil {
		transport = DefaultTransport
	}
	if err := errNoBroker(transport); err != nil {
		return wrapErr("push", "", err)
	}
	var ws wisp.PushSubscription
	if sub != nil {
		ws = wisp.PushSubscription{Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth}
		if sub.Endpoint == "" || len(sub.P256dh) != 65 || len(sub.Auth) != 16 || len(sub.Endpoint) > 0xffff {
			return wrapErr("push", "", errf("push subscription needs an endpoint, a 65-byte p256dh and a 16-byte auth: %w", ErrInvalidArgument))
		}
	}
	_, err := onSession(transport.(*relayTransport), ctx, func(s *wispclient.Session) (struct{}, error) {
		return struct{}{}, s.SetPushSubscription(ctx, ws)
	})
	if err != nil {
		return wrapErr("push", "", brokerErr(err))
	}
	return nil
}
