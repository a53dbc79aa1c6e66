package wispclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/cork"
	"github.com/sockshim/sockshim/internal/netutil"
	"github.com/sockshim/sockshim/internal/resume"
	"github.com/sockshim/sockshim/internal/wisp"
)

// Status is a session's connection state, for an app that shows
// "reconnecting".
type Status uint8

const (
	StatusUnknown      Status = iota
	StatusConnected           // a WebSocket carries the session
	StatusReconnecting        // the WebSocket was lost; resuming (sockets wait)
	StatusClosed              // the session is over
)

func (s Status) String() string {
	switch s {
	case StatusConnected:
		return "connected"
	case StatusReconnecting:
		return "reconnecting"
	case StatusClosed:
		return "closed"
	}
	return "unknown"
}

// ResumeOptions configure session resume; the zero value asks for it with
// defaults. It only happens when the server offers extension 0x5E.
type ResumeOptions struct {
	// Disabled: do not ask for resume (a lost WebSocket ends the session).
	Disabled bool
	// Buffer bounds the replay buffer (client to relay), default 2 MiB.
	Buffer int
	// AckInterval and DeadAfter tune the ACK heartbeat (default 2 s) and
	// when a silent WebSocket counts as lost (default 15 s).
	AckInterval, DeadAfter time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnect attempts
	// (defaults 100 ms and 5 s; each wait is jittered by +-50%).
	MinBackoff, MaxBackoff time.Duration
}

// ResumeError is a session that could not be resumed: the relay refused
// (Reason is its close reason) or the window passed. It unwraps to a
// CLOSE with ReasonReset, so sockets report ConnectionResetByPeer.
type ResumeError struct {
	Reason wisp.CloseReason // 0 when the relay could not be reached
	Detail string
	Err    error // how the WebSocket was lost (mapped as by sessionEnd), if known
}

func (e *ResumeError) Error() string {
	if e.Reason != 0 {
		return "wisp: session lost, resume refused: " + e.Reason.String()
	}
	return "wisp: session lost: " + e.Detail
}

func (e *ResumeError) Unwrap() []error {
	errs := []error{&wisp.CloseError{Reason: wisp.ReasonReset}}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

type clientResume struct {
	url      string
	o        Options
	window   time.Duration
	instance string
	lost     netutil.Signal

	mu       sync.Mutex
	token    resume.Token
	status   Status
	changed  chan struct{} // closed on every status change
	lastLoss error
}

// Status is the session's connection state. Sessions without resume are
// connected until they are closed.
func (s *Session) Status() Status {
	// done closes before any socket hears of the end, so a socket that
	// failed with the session never sees an older status here.
	if s.done.Done() {
		return StatusClosed
	}
	if s.res == nil {
		return StatusConnected
	}
	s.res.mu.Lock()
	defer s.res.mu.Unlock()
	return s.res.status
}

// StatusChanged is closed at the next status change (call again after).
func (s *Session) StatusChanged() <-chan struct{} {
	if s.res == nil {
		return s.done.C
	}
	s.res.mu.Lock()
	defer s.res.mu.Unlock()
	return s.res.changed
}

// ResumeStats are the session's resume counters (zero without resume).
func (s *Session) ResumeStats() resume.Stats {
	if s.rc == nil {
		return resume.Stats{}
	}
	return s.rc.Stats()
}

// setStatus moves a resumable session to st and tells OnStatus, in order
// (statusMu), with cause. A closed session stays closed: a resume that
// completes as the session is closed does not bring it back.
func (s *Session) setStatus(st Status, cause error) {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	r := s.res
	r.mu.Lock()
	if r.status == st || r.status == StatusClosed {
		r.mu.Unlock()
		return
	}
	r.status = st
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	if s.onStatus != nil {
		s.onStatus(st, cause)
	}
}

// notifyStatus tells OnStatus of a session without resume (or of a
// resumable one's first StatusConnected, before any other can happen).
func (s *Session) notifyStatus(st Status, cause error) {
	if s.onStatus == nil {
		return
	}
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	s.onStatus(st, cause)
}

func resumeRecord(o *Options) []wisp.Extension {
	if o.V1 || o.Resume.Disabled {
		return nil
	}
	return []wisp.Extension{{ID: wisp.ExtResume, Payload: []byte{1}}}
}

// startResume runs after the handshake: when both sides speak ExtResume
// the relay's first packet is RESUME_TOKEN, and the layer goes under the
// session.
func (s *Session) startResume(ctx context.Context, rawURL string, o *Options) error {
	e, ok := s.info.Find(wisp.ExtResume)
	if !ok || o.V1 || o.Resume.Disabled || !s.v2 {
		return nil
	}
	si, err := wisp.ParseResumeServerInfo(e.Payload)
	if err != nil {
		return err
	}
	p, err := s.readPacket(ctx)
	if err != nil {
		return fmt.Errorf("wisp: waiting for the resume token: %w", err)
	}
	if p.Type != wisp.TypeResumeToken {
		return fmt.Errorf("wisp: expected RESUME_TOKEN, got %v", p.Type)
	}
	tok, _, err := wisp.ParseResumeToken(p.Data)
	if err != nil {
		return err
	}
	s.res = &clientResume{url: rawURL, o: *o, window: time.Duration(si.Window) * time.Second,
		instance: si.Instance, lost: netutil.NewSignal(), token: tok,
		status: StatusConnected, changed: make(chan struct{})}
	s.rc = resume.New(resume.NewWSLink(s.conn, s.out, s.rd), &resume.Options{
		Buffer: o.Resume.Buffer, AckInterval: o.Resume.AckInterval, DeadAfter: o.Resume.DeadAfter,
		OnLinkDown: func(err error) {
			s.res.mu.Lock()
			s.res.lastLoss = err
			s.res.mu.Unlock()
			s.res.lost.Notify()
		},
	})
	go s.reconnectLoop()
	return nil
}

// finalClose: a close frame the relay sends only when the session is over
// (a lost link is dropped without one).
func finalClose(err error) bool {
	switch websocket.CloseStatus(err) {
	case websocket.StatusGoingAway, websocket.StatusNormalClosure, websocket.StatusPolicyViolation,
		websocket.StatusProtocolError, websocket.StatusUnsupportedData:
		return true
	}
	return false
}

func (s *Session) reconnectLoop() {
	r := s.res
	for {
		select {
		case <-r.lost:
		case <-s.done.C:
			return
		}
		if s.rc.Connected() {
			continue
		}
		r.mu.Lock()
		cause := r.lastLoss
		r.mu.Unlock()
		if finalClose(cause) {
			s.fail(sessionEnd(cause)) // the relay ended the session, as without resume
			return
		}
		s.setStatus(StatusReconnecting, sessionEnd(cause))
		if err := s.reconnect(); err != nil {
			var re *ResumeError
			if errors.As(err, &re) && re.Err == nil && cause != nil {
				re.Err = sessionEnd(cause)
			}
			s.fail(err)
			return
		}
		s.setStatus(StatusConnected, nil)
	}
}

// reconnect dials until a resume succeeds, is refused, or the window ends.
func (s *Session) reconnect() error {
	r := s.res
	deadline := time.Now().Add(r.window)
	minB, maxB := r.o.Resume.MinBackoff, r.o.Resume.MaxBackoff
	if minB <= 0 {
		minB = 100 * time.Millisecond
	}
	if maxB <= 0 {
		maxB = 5 * time.Second
	}
	backoff := minB
	refused := 0
	for {
		err := s.tryResume(deadline)
		if err == nil {
			return nil
		}
		var re *ResumeError
		if errors.As(err, &re) || errors.Is(err, resume.ErrPosition) || s.done.Done() {
			return err
		}
		// Nothing listens where the relay was: the process that held
		// the session is gone, and its memory with it. (A network that
		// is down fails otherwise: unreachable, timeouts.) A few tries
		// let a proxy in front restart.
		if errors.Is(err, syscall.ECONNREFUSED) {
			if refused++; refused >= 3 {
				return &ResumeError{Detail: fmt.Sprintf("the relay is not running any more: %v", err)}
			}
		} else {
			refused = 0
		}
		wait := time.Duration(float64(backoff) * (0.5 + rand.Float64()))
		if time.Now().Add(wait).After(deadline) {
			return &ResumeError{Detail: fmt.Sprintf("the relay was not reached within the %v resume window: %v", r.window, err)}
		}
		select {
		case <-time.After(wait):
		case <-s.done.C:
			return ErrSessionLost
		}
		backoff = min(2*backoff, maxB)
	}
}

// resumeURL adds ?resume=<instance> (for the load balancer) to the URL.
func (r *clientResume) resumeURL() string {
	u, err := url.Parse(r.url)
	if err != nil {
		return r.url
	}
	q := u.Query()
	q.Set("resume", r.instance)
	u.RawQuery = q.Encode()
	return u.String()
}

// tryResume is one attempt: dial, handshake with the token and our
// position, then replay from the relay's.
func (s *Session) tryResume(deadline time.Time) error {
	r := s.res
	o := &r.o
	hd := time.Now().Add(o.HandshakeTimeout)
	if deadline.Before(hd) {
		hd = deadline
	}
	ctx, cancel := context.WithDeadline(s.ctx, hd)
	defer cancel()
	conn, out, err := dial(ctx, r.resumeURL(), o)
	if err != nil {
		return err
	}
	conn.SetReadLimit(maxMessage)
	link := resume.NewWSLink(conn, out, nil)
	ok := false
	defer func() {
		if !ok {
			conn.CloseNow()
		}
	}()
	received := s.rc.Detach()
	var info wisp.Info
	for {
		b, err := link.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("wisp: resume handshake: %w", err)
		}
		p, err := wisp.Parse(b)
		if err != nil {
			return fmt.Errorf("wisp: resume handshake: %w", err)
		}
		switch p.Type {
		case wisp.TypeInfo:
			info = p.Info
			r.mu.Lock()
			tok := r.token
			r.mu.Unlock()
			rec, err := wisp.AppendResumeClientInfo(nil, wisp.ResumeClientInfo{
				Version: 1, Resume: true, Token: tok, Received: received, Instance: r.instance})
			if err != nil {
				return err
			}
			reply := wisp.Packet{Type: wisp.TypeInfo, Info: wisp.Info{Major: 2, Minor: 0}}
			reply.Info.Extensions = []wisp.Extension{{ID: wisp.ExtResume, Payload: rec}}
			if _, ok := info.Find(wisp.ExtPassword); ok && o.AppID != "" {
				pw, err := wisp.AppendPassword(nil, wisp.Password{User: o.AppID, Password: o.Secret})
				if err != nil {
					return err
				}
				reply.Info.Extensions = append(reply.Info.Extensions, wisp.Extension{ID: wisp.ExtPassword, Payload: pw})
			}
			if err := link.WriteMessage(ctx, wisp.Append(nil, &reply)); err != nil {
				return err
			}
		case wisp.TypeContinue:
			// the resume's answer follows
		case wisp.TypeClose:
			if p.StreamID == 0 {
				return &ResumeError{Reason: p.Reason}
			}
		case wisp.TypeResumeToken:
			tok, relayReceived, err := wisp.ParseResumeToken(p.Data)
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.token = tok
			r.mu.Unlock()
			if err := s.rc.Attach(link, relayReceived); err != nil {
				return err
			}
			ok = true
			return nil
		default:
			return fmt.Errorf("wisp: resume handshake: unexpected %v", p.Type)
		}
		if _, ok := info.Find(wisp.ExtResume); !ok && info.Major != 0 {
			return &ResumeError{Detail: "the relay no longer offers resume"}
		}
	}
}

// writeResumable writes frames through the resume layer, which keeps them
// for a replay; DATA of UDP streams is marked as a datagram (never kept).
// A lost WebSocket is not an error here: the frames wait for the next one.
//
// stop, if not nil, ends a wait for room in the replay buffer (a stream
// writer's deadline): writeResumable then returns how many frames it took,
// with resume.ErrStopped.
//
// The first owned frames are the session's own copies (queued frames: send
// and enqueue hand them over), which the replay buffer keeps without
// copying them again.
func (s *Session) writeResumable(frames [][]byte, owned int, stop <-chan struct{}) (int, error) {
	return s.rc.WriteOwnedUntil(s.ctx, stop, frames, owned, func(f []byte) bool {
		if wisp.Type(f[0]) != wisp.TypeData {
			return false
		}
		id := uint32(f[1]) | uint32(f[2])<<8 | uint32(f[3])<<16 | uint32(f[4])<<24
		return s.lookup(id).udp != nil
	})
}

// endResume ends a resumable session: the relay is told with a close frame
// (so it frees the session now instead of holding it for the window).
func (s *Session) endResume(err error) {
	if l, ok := s.rc.Link().(*resume.WSLink); ok {
		// CLOSE on stream 0 first, in the numbered stream, tells the relay
		// not to hold the session for a resume: the close frame alone can
		// lose the race with a write that fails on the closing socket.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.rc.Write(ctx, wisp.AppendClose(nil, 0, wisp.ReasonVoluntary), false)
		cancel()
		closeBounded(func() { l.CloseHandshake(websocket.StatusNormalClosure, "") }, l.Out)
	}
	s.rc.Close(err)
	s.setStatus(StatusClosed, err)
}

// closeWait bounds how long closing a session waits for the relay's answer
// to its close frame.
const closeWait = time.Second

// closeBounded runs closeWS (a WebSocket close with a close frame) and
// returns within closeWait: coder/websocket waits 5 s for a peer that does
// not answer (a dead network), so then the TCP connection under it (out)
// is cut. In a browser (out nil) a close never blocks.
func closeBounded(closeWS func(), out *cork.Conn) {
	if out == nil {
		closeWS()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		closeWS()
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		out.Conn.Close()
		<-done
	}
}
