package shim

import (
	"errors"
	"fmt"
	"sync"

	"github.com/sockshim/sockshim/internal/wispclient"
)

// SessionStatus is the state of a RelayTransport's session, for an app that
// shows "reconnecting". WinRT has no counterpart: its sockets own their
// connections, while a relay's sockets share one WebSocket.
type SessionStatus uint8

const (
	// SessionStatusUnknown: no session yet (no socket was opened).
	SessionStatusUnknown SessionStatus = iota
	// SessionConnected: a new session is up (the first one, or one after
	// a SessionLost).
	SessionConnected
	// SessionReconnecting: the session's WebSocket was lost and the
	// session is resuming; its sockets' Read and Write wait.
	SessionReconnecting
	// SessionResumed: the session resumed on a new WebSocket; no byte of
	// its streams was lost (datagrams may have been).
	SessionResumed
	// SessionLost: the session ended without the app asking (no resume, a
	// refused resume, the relay closed it or stopped answering); its
	// sockets failed. The next Connect opens a new session.
	SessionLost
	// SessionClosed: Close was called; the transport is done.
	SessionClosed
)

var sessionStatusNames = [...]string{"Unknown", "Connected", "Reconnecting", "Resumed", "Lost", "Closed"}

func (s SessionStatus) String() string {
	if int(s) < len(sessionStatusNames) {
		return sessionStatusNames[s]
	}
	return fmt.Sprintf("SessionStatus(%d)", uint8(s))
}

// SessionEvent is a change of a RelayTransport's session status.
type SessionEvent struct {
	Status SessionStatus
	// Err is the cause, mapped like the sockets' errors (GetStatus and
	// errors.Is see it): for SessionReconnecting how the WebSocket was
	// lost, for SessionLost and SessionClosed what the session's sockets
	// then report. Nil for SessionConnected and SessionResumed.
	Err error
}

func (e SessionEvent) String() string {
	if e.Err != nil {
		return e.Status.String() + ": " + e.Err.Error()
	}
	return e.Status.String()
}

// Status is the current status of the transport's session.
func (t *Relay) Status() SessionStatus {
	t.status.mu.Lock()
	defer t.status.mu.Unlock()
	return t.status.cur
}

// relayStatus turns the sessions' status changes into SessionEvents and
// hands them to RelayOptions.OnStatus from a goroutine that lives only
// while events are queued (so a quiet transport holds no goroutine).
type relayStatus struct {
	mu         sync.Mutex
	cur        SessionStatus
	gen        uint64 // the session the status is of
	queue      []SessionEvent
	delivering bool
}

// session takes a status change of the transport's gen-th session. A
// session the transport already replaced speaks no more.
func (r *relayStatus) session(t *Relay, gen uint64, st wispclient.Status, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen < r.gen || r.cur == SessionClosed {
		return
	}
	var ev SessionEvent
	switch st {
	case wispclient.StatusConnected:
		ev.Status = SessionConnected
		if gen == r.gen && r.cur == SessionReconnecting {
			ev.Status = SessionResumed
		}
	case wispclient.StatusReconnecting:
		ev = SessionEvent{Status: SessionReconnecting, Err: relayErr(cause)}
	case wispclient.StatusClosed:
		if errors.Is(cause, errTransportClosedCause) {
			return // Close reports SessionClosed itself
		}
		ev = SessionEvent{Status: SessionLost, Err: relayErr(fmt.Errorf("%w: %w", wispclient.ErrSessionLost, cause))}
	default:
		return
	}
	r.gen = gen
	r.emit(t, ev)
}

// closed is the end: Close was called.
func (r *relayStatus) closed(t *Relay) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != SessionClosed {
		r.emit(t, SessionEvent{Status: SessionClosed, Err: statusErr(SocketErrorOperationAborted, errTransportClosed)})
	}
}

// emit records ev and queues it for OnStatus; r.mu is held.
func (r *relayStatus) emit(t *Relay, ev SessionEvent) {
	r.cur = ev.Status
	if t.opts.OnStatus == nil {
		return
	}
	r.queue = append(r.queue, ev)
	if !r.delivering {
		r.delivering = true
		go r.deliver(t.opts.OnStatus)
	}
}

func (r *relayStatus) deliver(f func(SessionEvent)) {
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.delivering = false
			r.mu.Unlock()
			return
		}
		ev := r.queue[0]
		r.queue = r.queue[1:]
		r.mu.Unlock()
		f(ev)
	}
}
