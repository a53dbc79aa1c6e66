package relay

import (
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
	// Broker bounds the sockets the relay holds for the app between its
	// sessions (broker.go); zero fields mean its defaults.
	Broker BrokerConfig `json:"broker"`

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

// validate parses Addresses and Ports; on error it names the key.
func (l *ListenConfig) validate() (string, error) {
	if len(l.Addresses) == 0 {
		return "addresses", errors.New("required: the IP literals the app may bind")
	}
	l.rules.Addrs = nil
	for _, a := range l.Addresses {
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.Zone() != "" {
			return "addresses", fmt.Errorf("address %q: want an IP literal without a zone", a)
		}
		l.rules.Addrs = append(l.rules.Addrs, ip.Unmap())
	}
	ports, err := policy.ParsePortRanges(l.Ports)
	if err != nil {
		return "ports", errors.New(strings.TrimPrefix(err.Error(), "policy: "))
	}
	if len(ports) == 0 {
		return "ports", errors.New(`required: the ports the app may bind, as "20000-20100, 8080"`)
	}
	l.rules.Ports = ports
	if len(l.PublicHost) > 255 {
		return "publicHost", errors.New("longer than 255 bytes")
	}
	if l.MaxListeners < 0 {
		return "maxListeners", errors.New("negative (0 means the default, 16)")
	}
	return "", nil
}

func (l *ListenConfig) maxListeners() int {
	if l.MaxListeners == 0 {
		return 16
	}
	return l.MaxListeners
}

// policyApp is the policy view of the app.
func (a *AppConfig) policyApp() *policy.App {
	return &policy.App{ID: a.ID, Capabilities: a.caps, LoopbackExempt: a.LoopbackExempt}
}

// LoadConfig reads and validates a config file. A mistake is a
// *ConfigError naming the file, line, column and key.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = path
			return nil, ce
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses and validates a JSON config. Unknown keys (also in
// another case), duplicate keys and trailing data are errors, so a typo never
// silently weakens policy; so is a config without apps, which would refuse
// every client. A mistake is a *ConfigError with its line, column and key.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	if err := decode(b, &c); err != nil {
		return nil, err
	}
	if len(c.Apps) == 0 {
		return nil, withPosition(b, fieldErr("/apps", "no app is configured: the relay would refuse every client (see README, Configuration)"))
	}
	if err := c.validate(); err != nil {
		return nil, withPosition(b, err)
	}
	return &c, nil
}

// Warnings are what in a valid config likely is a mistake: apps whose
// sessions get no network at all.
func (c *Config) Warnings() []string {
	var w []string
	for _, a := range c.Apps {
		if a.caps == 0 {
			w = append(w, fmt.Sprintf("app %q has no capabilities: its sessions are admitted but every stream is refused", a.ID))
		}
	}
	return w
}

func (c *Config) validate() error {
	seen := map[string]bool{}
	for i := range c.Apps {
		a := &c.Apps[i]
		at := func(key string) string {
			if key == "" {
				return fmt.Sprintf("/apps/%d", i)
			}
			return fmt.Sprintf("/apps/%d/%s", i, key)
		}
		switch {
		case a.ID == "":
			return fieldErr(at(""), "id is required")
		case len(a.ID) > 255:
			return fieldErr(at("id"), "longer than 255 bytes")
		case seen[a.ID]:
			return fieldErr(at("id"), "duplicate id %q", a.ID)
		}
		seen[a.ID] = true
		if len(a.Origins) == 0 && !a.AllowNoOrigin {
			return fieldErr(at(""), "app %q: no origins and allowNoOrigin is false: no client could use it", a.ID)
		}
		for j, o := range a.Origins {
			if err := validOriginPattern(o); err != nil {
				return fieldErr(at(fmt.Sprintf("origins/%d", j)), "origin %q: %v", o, err)
			}
		}
		a.caps = 0
		for j, s := range a.Capabilities {
			cp, err := policy.ParseCapability(s)
			if err != nil {
				return fieldErr(at(fmt.Sprintf("capabilities/%d", j)), "%v", strings.TrimPrefix(err.Error(), "policy: "))
			}
			a.caps |= cp
		}
		if err := a.Broker.validate(); err != nil {
			return fieldErr(at("broker"), "%v", err)
		}
		if key, err := a.Limits.validate(); err != nil {
			return fieldErr(at("limits/"+key), "%v", err)
		}
		if len(a.Secret) > 0xffff {
			return fieldErr(at("secret"), "longer than 65535 bytes")
		}
		if a.Listen != nil {
			if key, err := a.Listen.validate(); err != nil {
				return fieldErr(at("listen/"+key), "%v", err)
			}
		}
	}
	if c.WebRTC != nil {
		if key, err := c.WebRTC.validate(); err != nil {
			return fieldErr("/webrtc/"+key, "%v", err)
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
