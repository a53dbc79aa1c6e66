package main

import (
	"fmt"
	"strings"

	"github.com/sockshim/sockshim/relay"
)

// Environment of the Worker (wrangler.toml [vars], `wrangler secret put`).
const (
	// envConfig holds the relay's config file, the same JSON format as
	// `relay -config` (README "Configuration"), as a var or a secret.
	envConfig = "SOCKSHIM_CONFIG"
	// envSecretPrefix + an app id in upper case, every character other
	// than A-Z and 0-9 replaced by "_", is that app's secret, so secrets
	// stay out of wrangler.toml: SOCKSHIM_SECRET_MY_APP for app "my-app".
	envSecretPrefix = "SOCKSHIM_SECRET_"
)

// maxStreamsPerSession is the Workers platform's limit of simultaneous
// outbound connections per invocation; a session is one invocation.
const maxStreamsPerSession = 6

// secretEnv is the variable holding app id's secret.
func secretEnv(id string) string {
	var b strings.Builder
	b.WriteString(envSecretPrefix)
	for _, r := range strings.ToUpper(id) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// loadConfig reads and validates the config from the Worker's environment
// with the native relay's parser (the same errors), then adds each app's
// secret and refuses what the edge cannot do.
func loadConfig(getenv func(string) string) (*relay.Config, error) {
	raw := getenv(envConfig)
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("edge: %s is not set: put the relay config (JSON) in wrangler.toml [vars] or `wrangler secret put %s`", envConfig, envConfig)
	}
	cfg, err := relay.ParseConfig([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("edge: %s: %w", envConfig, err)
	}
	if cfg.WebRTC != nil {
		return nil, fmt.Errorf("edge: %s: webrtc: the edge relay has no UDP and cannot serve data channels; remove it", envConfig)
	}
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		if a.Listen != nil {
			return nil, fmt.Errorf("edge: %s: app %q: listen: the edge relay cannot hold listeners; remove it", envConfig, a.ID)
		}
		name := secretEnv(a.ID)
		s := getenv(name)
		switch {
		case s == "":
		case a.Secret != "":
			return nil, fmt.Errorf("edge: app %q has a secret both in %s and in %s; keep the secret only", a.ID, envConfig, name)
		case len(s) > 0xffff:
			return nil, fmt.Errorf("edge: %s: longer than 65535 bytes", name)
		default:
			a.Secret = s
		}
	}
	return cfg, nil
}
