//go:build !js

package shim

import (
	"net/netip"

	"github.com/sockshim/sockshim/internal/policy"
)

// normalizeHost is policy.Normalize; the browser build has its own
// (hostname_js.go) so as not to link x/net/idna's tables.
func normalizeHost(host string) (string, netip.Addr, error) { return policy.Normalize(host) }
