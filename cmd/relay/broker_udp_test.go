//go:build !js

package main

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// TestBrokerReleasesUDPDescriptors: eight bound UDP sockets are transferred
// and their session closed; the real relay process holds exactly their
// eight descriptors and releases every one when the 5 s leases end, one
// log line each.
func TestBrokerReleasesUDPDescriptors(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, `{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"],"loopbackExempt":true,"broker":{"ttlSeconds":5}}]}`)
	p := startRelay(t, "-config", cfg)
	base := scrape(t, p, "process_open_fds")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := wispclient.Dial(ctx, p.url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		c, err := s.BindUDP(ctx, netip.AddrPort{}, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Transfer(ctx, wisp.Transfer{SocketID: "u" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	transferred := time.Now()
	s.Close()
	eventually(t, "session closed", func() bool { return scrape(t, p, "sockshim_sessions_open") == 0 })
	held, fds := scrape(t, p, "sockshim_broker_held_sockets"), scrape(t, p, "process_open_fds")
	if time.Since(transferred) < 4*time.Second {
		if held != 8 || fds < base+8 {
			t.Errorf("while held: %v sockets, %v descriptors (baseline %v), want 8 and baseline+8", held, fds, base)
		}
	} else {
		t.Logf("the machine is slow: the leases may have ended before the check")
	}
	eventually(t, "held sockets released", func() bool { return scrape(t, p, "sockshim_broker_held_sockets") == 0 })
	eventually(t, "descriptors back to the baseline", func() bool { return scrape(t, p, "process_open_fds") <= base })
	if n := strings.Count(p.stderr.String(), "relay: broker released a held socket"); n != 8 {
		t.Errorf("%d release log lines, want 8:\n%s", n, p.stderr)
	}
}
