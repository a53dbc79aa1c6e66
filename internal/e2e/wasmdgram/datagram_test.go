//go:build js

// Package wasmdgram holds the browser-side DatagramSocket tests. They run
// in headless Chromium, started by internal/e2e (TestWasmDatagramChromium),
// which passes the servers in SOCKSHIM_* variables.
package wasmdgram

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/sockshim/sockshim/internal/testutil/jsenv"
	"github.com/sockshim/sockshim/shim"
)

func echoRoundTrips(t *testing.T, send func([]byte) error, recv func([]byte) (int, error), count int) {
	t.Helper()
	for i := range count {
		want := bytes.Repeat([]byte{byte(i)}, 100+i*37)
		if err := send(want); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 70000)
		n, err := recv(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("sent %d bytes, got %d", len(want), n)
		}
	}
}

// TestDatagramSocketFromBrowser: connected and bound sockets over the
// WebSocket, and with QualityOfService LowLatency over a data channel.
func TestDatagramSocketFromBrowser(t *testing.T) {
	echoH, echoP := jsenv.HostPort(t, jsenv.Env(t, "SOCKSHIM_UDP_ECHO"))
	echoAddr, err := net.ResolveUDPAddr("udp", jsenv.Env(t, "SOCKSHIM_UDP_ECHO"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		url  string
		qos  shim.SocketQualityOfService
	}{
		{"websocket", jsenv.Env(t, "SOCKSHIM_RELAY_URL"), shim.QualityOfServiceNormal},
		{"datachannel", jsenv.Env(t, "SOCKSHIM_RTC_RELAY_URL"), shim.QualityOfServiceLowLatency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := shim.RelayTransport(tc.url, nil)
			c := shim.NewDatagramSocket(tr)
			c.Control().SetQualityOfService(tc.qos)
			if err := c.Connect(jsenv.Context(t), echoH, echoP); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.qos == shim.QualityOfServiceLowLatency {
				time.Sleep(2 * time.Second) // let the data channel open; datagrams flow either way
			}
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			echoRoundTrips(t, func(b []byte) error { _, err := c.Write(b); return err }, c.Read, 20)
			fmt.Printf("%s connected: 20 datagrams echoed, info %+v\n", tc.name, c.Information())

			b := shim.NewDatagramSocket(tr)
			b.Control().SetQualityOfService(tc.qos)
			if err := b.Bind(jsenv.Context(t), ""); err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			b.SetReadDeadline(time.Now().Add(20 * time.Second))
			echoRoundTrips(t, func(p []byte) error { _, err := b.WriteTo(p, echoAddr); return err }, func(p []byte) (int, error) {
				n, _, err := b.ReadFrom(p)
				return n, err
			}, 20)
			if _, err := c.Write(make([]byte, 70000)); shim.GetStatus(err) != shim.SocketErrorMessageTooLong {
				t.Errorf("70000-byte datagram: %v, want MessageTooLong", err)
			}
		})
	}
}

// TestDNSQueryFromBrowser sends a real DNS query with a DatagramSocket to
// the harness's DNS server and prints the answer.
func TestDNSQueryFromBrowser(t *testing.T) {
	h, p := jsenv.HostPort(t, jsenv.Env(t, "SOCKSHIM_DNS_ADDR"))
	s := shim.NewDatagramSocket(shim.RelayTransport(jsenv.Env(t, "SOCKSHIM_RELAY_URL"), nil))
	if err := s.Connect(jsenv.Context(t), h, p); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	name := dnsmessage.MustNewName("sockshim.example.")
	q := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x5353, RecursionDesired: true})
	q.StartQuestions()
	q.Question(dnsmessage.Question{Name: name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, err := q.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(msg); err != nil {
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := s.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var parser dnsmessage.Parser
	hdr, err := parser.Start(buf[:n])
	if err != nil || hdr.ID != 0x5353 || !hdr.Response {
		t.Fatalf("answer header %+v: %v", hdr, err)
	}
	parser.SkipAllQuestions()
	ans, err := parser.AllAnswers()
	if err != nil || len(ans) != 1 {
		t.Fatalf("answers %v: %v", ans, err)
	}
	a := ans[0].Body.(*dnsmessage.AResource)
	fmt.Printf("DNS answer from the browser: %s A %s\n", ans[0].Header.Name, netip.AddrFrom4(a.A))
	if want := jsenv.Env(t, "SOCKSHIM_DNS_WANT"); netip.AddrFrom4(a.A).String() != want {
		t.Fatalf("A %v, want %s", netip.AddrFrom4(a.A), want)
	}
}
