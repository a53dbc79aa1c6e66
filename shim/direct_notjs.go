//go:build !js

package shim

import (
	"context"
	"errors"
	"net"

	"github.com/sockshim/sockshim/internal/policy"
)

// DirectTransport opens operating-system sockets, deciding each destination
// with the same capability policy the relay applies (resolve, classify
// every answer, dial only checked addresses). A nil opts grants every
// capability and the loopback exemption, like an ordinary program.
func DirectTransport(opts *DirectOptions) Transport {
	t := &directTransport{app: policy.App{ID: "direct", Capabilities: policy.AllCapabilities, LoopbackExempt: true}}
	if opts != nil {
		if opts.Capabilities != nil {
			t.app.Capabilities = 0
			for _, c := range opts.Capabilities {
				cp, err := policy.ParseCapability(c)
				if err != nil {
					t.err = err
				}
				t.app.Capabilities |= cp
			}
		}
		t.app.LoopbackExempt = !opts.DenyLoopback
	}
	return t
}

func defaultTransport() Transport { return DirectTransport(nil) }

type directTransport struct {
	app    policy.App
	err    error
	engine policy.Engine
}

func (t *directTransport) String() string { return "direct" }

func (t *directTransport) dialStream(ctx context.Context, host *HostName, port uint16) (net.Conn, error) {
	if t.err != nil {
		return nil, t.err
	}
	target, err := t.engine.Check(ctx, &t.app, policy.OpConnect, host.CanonicalName(), port)
	if err != nil {
		return nil, err
	}
	return t.engine.DialTarget(ctx, nil, &t.app, policy.OpConnect, "tcp", target)
}

// policyDenied reports whether err is the capability policy's denial (only
// direct sockets apply it here), with its reason.
func policyDenied(err error) (reason string, denied bool) {
	var pe *policy.Error
	if errors.As(err, &pe) && errors.Is(err, policy.ErrDenied) {
		return pe.Reason.String(), true
	}
	return "", false
}

// policyHostNotFound reports whether err is the policy's failed lookup.
func policyHostNotFound(err error) bool { return errors.Is(err, policy.ErrHostNotFound) }
