//go:build !js

package testutil

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSAnswer is the A record DNSServer gives every name.
var DNSAnswer = netip.MustParseAddr("192.0.2.53")

// DNSServer starts a small DNS server on 127.0.0.1 (UDP) that answers every
// A question with DNSAnswer and everything else with no records.
func DNSServer(t testing.TB) *net.UDPAddr {
	t.Helper()
	return ServeUDP(t, func(b []byte) []byte {
		var p dnsmessage.Parser
		h, err := p.Start(b)
		if err != nil {
			return nil
		}
		q, err := p.Question()
		if err != nil {
			return nil
		}
		bld := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
		bld.EnableCompression()
		bld.StartQuestions()
		bld.Question(q)
		bld.StartAnswers()
		if q.Type == dnsmessage.TypeA {
			bld.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
				dnsmessage.AResource{A: DNSAnswer.As4()})
		}
		out, err := bld.Finish()
		if err != nil {
			return nil
		}
		return out
	})
}
