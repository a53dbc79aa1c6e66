package relay

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/sockshim/sockshim/internal/wisp"
)

// Web Push activation: an app registers its service worker's push
// subscription with the broker (PUSH_SUBSCRIBE); when one of its held
// sockets has activity, the relay sends an RFC 8030 push message, encrypted
// per RFC 8291 and signed with the app's VAPID key (RFC 8292), naming the
// socket and the reason: at most one per held socket and reason in
// minIntervalSeconds. The sending is broker_push_notjs.go's (the js build,
// the edge relay, has no broker).

// PushConfig enables Web Push activation for an app.
type PushConfig struct {
	// VAPIDPublicKey and VAPIDPrivateKey are the app server's key pair
	// (base64url, as webpush-go's GenerateVAPIDKeys makes them); the page
	// subscribes with the public key as its applicationServerKey.
	VAPIDPublicKey  string `json:"vapidPublicKey"`
	VAPIDPrivateKey string `json:"vapidPrivateKey"`
	// Subscriber is the VAPID contact ("mailto:ops@app.example").
	Subscriber string `json:"subscriber"`
	// Endpoints are the URL prefixes a subscription's endpoint may start
	// with (the push services the app uses): the relay POSTs nowhere else.
	Endpoints []string `json:"endpoints"`
	// MinIntervalSeconds between two pushes for one held socket and
	// reason; default 60.
	MinIntervalSeconds int `json:"minIntervalSeconds,omitempty"`
}

func (p *PushConfig) validate() error {
	if p == nil {
		return nil
	}
	switch {
	case p.VAPIDPublicKey == "" || p.VAPIDPrivateKey == "":
		return errors.New("push: vapidPublicKey and vapidPrivateKey are required")
	case len(p.Endpoints) == 0:
		return errors.New("push: endpoints is required (the push services' URL prefixes)")
	case p.MinIntervalSeconds < 0:
		return errors.New("push: minIntervalSeconds is negative")
	}
	for _, e := range p.Endpoints {
		if !strings.HasPrefix(e, "https://") && !strings.HasPrefix(e, "http://") {
			return errors.New("push: endpoints must be http:// or https:// URL prefixes")
		}
	}
	return nil
}

func (p *PushConfig) interval() time.Duration {
	if p.MinIntervalSeconds == 0 {
		return time.Minute
	}
	return time.Duration(p.MinIntervalSeconds) * time.Second
}

func (p *PushConfig) allows(endpoint string) bool {
	for _, e := range p.Endpoints {
		if strings.HasPrefix(endpoint, e) {
			return true
		}
	}
	return false
}

// pushMessage is the JSON a push carries to the app's service worker.
type pushMessage struct {
	SocketID string `json:"socketId"`
	Kind     string `json:"kind"`
	Reason   string `json:"reason"`
	TaskID   string `json:"taskId,omitempty"`
}

var heldReasonNames = map[wisp.HeldReason]string{
	wisp.HeldActivity: "SocketActivity", wisp.HeldAccepted: "ConnectionAccepted",
	wisp.HeldKeepAliveExpired: "KeepAliveTimerExpired", wisp.HeldClosed: "SocketClosed",
}

var heldKindNames = map[wisp.HeldKind]string{
	wisp.HeldStream: "StreamSocket", wisp.HeldListener: "StreamSocketListener", wisp.HeldDatagram: "DatagramSocket",
}

// pushConfig is app's push configuration under the current config.
func (b *broker) pushConfig(appID string) *PushConfig {
	cfg := b.srv.Config()
	for i := range cfg.Apps {
		if cfg.Apps[i].ID == appID {
			return cfg.Apps[i].Broker.Push
		}
	}
	return nil
}

// subscribe handles PUSH_SUBSCRIBE; it runs on the session reader.
func (s *session) subscribe(p *wisp.Packet) {
	b := s.srv.broker
	answer := func(r wisp.CloseReason, why string) {
		if r != 0 {
			s.log.Info("relay: push subscription refused", "why", why)
		}
		s.write(wisp.AppendTransferred(nil, 0, r))
	}
	sub, err := wisp.ParsePushSubscribe(p.Data)
	if err != nil || p.StreamID != 0 {
		answer(wisp.ReasonInvalid, "malformed")
		return
	}
	app := s.app().id()
	pc := b.pushConfig(app)
	switch {
	case app == "" || pc == nil:
		answer(wisp.ReasonBlocked, "the app has no broker.push config")
		return
	case sub.Endpoint != "" && !pc.allows(sub.Endpoint):
		answer(wisp.ReasonBlocked, "endpoint not in broker.push.endpoints")
		return
	}
	b.mu.Lock()
	if sub.Endpoint == "" {
		delete(b.subs, app)
	} else {
		b.subs[app] = sub
	}
	b.mu.Unlock()
	answer(0, "")
}

// notify sends h's app a push for reason r, unless one went out for this
// socket and reason within the app's interval. Call it without h.mu.
func (b *broker) notify(h *held, r wisp.HeldReason) {
	pc := b.pushConfig(h.app)
	if pc == nil {
		return
	}
	b.mu.Lock()
	sub, ok := b.subs[h.app]
	closed := b.closed
	b.mu.Unlock()
	if !ok || closed || !pc.allows(sub.Endpoint) {
		return
	}
	now := time.Now()
	h.mu.Lock()
	if h.pushed == nil {
		h.pushed = map[wisp.HeldReason]time.Time{}
	}
	last, sent := h.pushed[r]
	if sent && now.Sub(last) < pc.interval() {
		h.mu.Unlock()
		return
	}
	h.pushed[r] = now
	h.mu.Unlock()
	msg, _ := json.Marshal(pushMessage{SocketID: h.id, Kind: heldKindNames[h.kind], Reason: heldReasonNames[r], TaskID: h.task})
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.pushes.Add(1)
		if err := sendPush(b.stopCtx, pc, sub, msg); err != nil {
			b.pushFailures.Add(1)
			b.srv.log.Info("relay: push failed", "app", h.app, "socket", h.id, "reason", heldReasonNames[r], "err", err)
			return
		}
		b.srv.log.Info("relay: push sent", "app", h.app, "socket", h.id, "reason", heldReasonNames[r])
	}()
}
