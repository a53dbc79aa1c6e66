package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"github.com/sockshim/sockshim/internal/policy"
)

// Config is the relay's policy file. See README.md ("Configuration") for
// the format; ParseConfig validates it.
type Config struct {
	Apps []AppConfig `json:"apps"`
	// WebRTC enables data channels for low-latency DatagramSockets; nil
	// (absent) means off. Read at start only: a reload does not change it.
	WebRTC *WebRTCOptions `json:"webrtc,omitempty"`
}

// AppConfig is one registered app.
type AppConfig struct {
	// ID names the app; it is the user name of the Wisp password extension.
	ID string `json:"id"`
	// Origins are the page origins allowed to open sessions for this app,
	// scheme included: "https://app.example", "http://localhost:*" (any
	// port), "https://*.example.com" (any subdomain).
	Origins []string `json:"origins"`
	// AllowNoOrigin admits clients that send no Origin header (native
	// programs, Node). Browsers always send one.
	AllowNoOrigin bool `json:"allowNoOrigin"`
	// Secret is the app credential; empty means an anonymous app, chosen by
	// origin alone.
	Secret string `json:"secret"`
	// Capabilities: internetClient, internetClientServer,
	// privateNetworkClientServer.
	Capabilities []string `json:"capabilities"`
	// LoopbackExempt allows 127.0.0.0/8 and ::1, as Windows' loopback
	// exemption does.
	LoopbackExempt bool `json:"loopbackExempt"`
	// Listen lets the app open TCP listeners on the relay
	// (StreamSocketListener); nil means it may not. Binding also needs
	// internetClientServer (any address) or privateNetworkClientServer
	// (private addresses), and loopback needs loopbackExempt.
	Listen *ListenConfig `json:"listen,omitempty"`
	// Limits bound the app's sessions, streams and bandwidth; zero fields
	// mean the defaults documented on Limits.
	Limits Limits `json:"limits"`

	caps policy.Capabilities
}

// ListenConfig says where an app may listen.
type ListenConfig struct {
	// Addresses are the IP literals the app may bind, "0.0.0.0" or "::"
	// meaning every interface. The first is the default for a bind that
	// names no address. Required.
	Addresses []string `json:"addresses"`
	// Ports are the ports the app may bind, as "20000-20100, 8080".
	// A bind to port 0 gets a free port from these. Required.
	Ports string `json:"ports"`
	// PublicHost is the host name or address outsiders use to reach the
	// relay's listeners (behind NAT, a load balancer); empty means the bound
	// address, or unknown for an every-interface bind.
	PublicHost string `json:"publicHost,omitempty"`
	// MaxListeners bounds the listeners one session holds; 0 means 16.
	MaxListeners int `json:"maxListeners,omitempty"`

	rules policy.ListenRules // Addresses and Ports, parsed by validate
}

func (l *ListenConfig) validate() error {
	if len(l.Addresses) == 0 {
		return errors.New("listen: addresses is required")
	}
	l.rules.Addrs = nil
	for _, a := range l.Addresses {
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.Zone() != "" {
			return fmt.Errorf("listen: address %q: want an IP literal without a zone", a)
		}
		l.rules.Addrs = append(l.rules.Addrs, ip.Unmap())
	}
	ports, err := policy.ParsePortRanges(l.Ports)
	if err != nil {
		return fmt.Errorf("listen: ports: %w", err)
	}
	if len(ports) == 0 {
		return errors.New("listen: ports is required")
	}
	l.rules.Ports = ports
	if len(l.PublicHost) > 255 {
		return errors.New("listen: publicHost longer than 255 bytes")
	}
	if l.MaxListeners < 0 {
		return errors.New("listen: maxListeners is negative")
	}
	return nil
}

func (l *ListenConfig) maxListeners() int {
	if l.MaxListeners == 0 {
		return 16
	}
	return l.MaxListeners
}

// App returns the policy view of the app.
func (a *AppConfig) App() *policy.App {
	return &policy.App{ID: a.ID, Capabilities: a.caps, LoopbackExempt: a.LoopbackExempt}
}

// LoadConfig reads and validates a config file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("relay: config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses and validates a JSON config. Unknown fields are errors,
// so a typo never silently weakens policy.
func ParseConfig(b []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("relay: config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("relay: config: trailing data after the JSON object")
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) validate() error {
	seen := map[string]bool{}
	for i := range c.Apps {
		a := &c.Apps[i]
		where := fmt.Sprintf("relay: config: apps[%d]", i)
		if a.ID == "" {
			return fmt.Errorf("%s: id is required", where)
		}
		if len(a.ID) > 255 {
			return fmt.Errorf("%s: id is longer than 255 bytes", where)
		}
		if seen[a.ID] {
			return fmt.Errorf("%s: duplicate id %q", where, a.ID)
		}
		seen[a.ID] = true
		where = fmt.Sprintf("relay: config: app %q", a.ID)
		if len(a.Origins) == 0 && !a.AllowNoOrigin {
			return fmt.Errorf("%s: no origins and allowNoOrigin is false: no client could use it", where)
		}
		for _, o := range a.Origins {
			if err := validOriginPattern(o); err != nil {
				return fmt.Errorf("%s: origin %q: %w", where, o, err)
			}
		}
		a.caps = 0
		for _, s := range a.Capabilities {
			cp, err := policy.ParseCapability(s)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			a.caps |= cp
		}
		if err := a.Limits.validate(); err != nil {
			return fmt.Errorf("%s: limits: %w", where, err)
		}
		if len(a.Secret) > 0xffff {
			return fmt.Errorf("%s: secret longer than 65535 bytes", where)
		}
		if a.Listen != nil {
			if err := a.Listen.validate(); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	return nil
}

func validOriginPattern(p string) error {
	if p == "null" {
		return nil // the opaque origin, allowed only when listed
	}
	u, err := url.Parse(strings.Replace(p, ":*", ":0", 1))
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("want http:// or https://")
	}
	if u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return errors.New("want scheme://host[:port] only")
	}
	return nil
}

// matchOrigin reports whether an Origin header value matches a pattern.
func matchOrigin(pattern, origin string) bool {
	if pattern == origin {
		return true
	}
	if pattern == "null" || origin == "null" {
		return false
	}
	ps, rest, ok := strings.Cut(pattern, "://")
	os, orest, ok2 := strings.Cut(origin, "://")
	if !ok || !ok2 || !strings.EqualFold(ps, os) {
		return false
	}
	phost, pport := splitHostPort(rest)
	ohost, oport := splitHostPort(orest)
	switch {
	case pport == "*":
		if oport == "" {
			return false
		}
	case pport != oport:
		return false
	}
	phost, ohost = strings.ToLower(phost), strings.ToLower(ohost)
	if suffix, ok := strings.CutPrefix(phost, "*."); ok {
		return strings.HasSuffix(ohost, "."+suffix)
	}
	return phost == ohost
}

func splitHostPort(s string) (host, port string) {
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i:], "]") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// DevConfig is the embedded development policy of `relay -dev`: one
// anonymous app with every capability and the loopback exemption, allowed to
// listen on loopback ports 1024-65535, for pages
// on http://localhost:* and http://127.0.0.1:* and for native clients.
func DevConfig() *Config {
	c := &Config{Apps: []AppConfig{{
		ID:             "dev",
		Origins:        []string{"http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"},
		AllowNoOrigin:  true,
		Capabilities:   []string{"internetClient", "internetClientServer", "privateNetworkClientServer"},
		LoopbackExempt: true,
		Listen:         &ListenConfig{Addresses: []string{"127.0.0.1", "::1"}, Ports: "1024-65535"},
	}}}
	if err := c.validate(); err != nil {
		panic(err)
	}
	return c
}
