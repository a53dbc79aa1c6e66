package relay

import (
	"github.com/sockshim/sockshim/internal/policy"
)

// appState is a session's app as one config has it, computed once (at the
// handshake, and again at each reload) so that every check of the session
// uses the same view.
type appState struct {
	cfg    *AppConfig  // nil: no app, no network
	policy *policy.App // nil when cfg is
}

func newAppState(a *AppConfig) *appState {
	if a == nil {
		return &appState{}
	}
	return &appState{cfg: a, policy: a.App()}
}

func (a *appState) id() string {
	if a.cfg == nil {
		return ""
	}
	return a.cfg.ID
}

// listen is the app's listen config; nil: it may not listen.
func (a *appState) listen() *ListenConfig {
	if a.cfg == nil {
		return nil
	}
	return a.cfg.Listen
}

// app is the session's app under the current config.
func (s *session) app() *appState { return s.appState.Load() }
