//go:build !js

package relay_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/relay"
)

func reloadConfig(id string, loopback bool, perSession int) *relay.Config {
	return mustParse(fmt.Sprintf(`{"apps":[{"id":%q,"allowNoOrigin":true,"capabilities":["internetClient"],
		"loopbackExempt":%v,"limits":{"maxStreamsPerSession":%d}}]}`, id, loopback, perSession))
}

// TestReloadReachesOpenSessions: a new config applies at once to an open
// session's new streams (loopback exemption, stream limit) and datagram
// destinations, and a session whose app is gone is closed with the
// authentication reason.
func TestReloadReachesOpenSessions(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	udpEcho := testutil.UDPEchoServer(t).AddrPort()
	url, srv := testutil.Relay(t, &relay.Options{Config: reloadConfig("a", true, 3)})
	s := dial(t, url, nil)
	open := func() error {
		st, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", echo.AddrPort().Port())
		if err == nil {
			t.Cleanup(func() { st.Close() })
		}
		return err
	}
	if err := open(); err != nil {
		t.Fatal(err)
	}
	u, err := s.BindUDP(ctxT(t), netip.AddrPort{}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.WriteTo([]byte("x"), udpEcho); err != nil {
		t.Fatal(err)
	}
	u.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := u.ReadFrom(make([]byte, 8)); err != nil {
		t.Fatalf("UDP echo before the reload: %v", err)
	}

	// Loopback exemption removed: new streams and datagrams are denied.
	srv.SetConfig(reloadConfig("a", false, 3))
	if err := open(); closeReason(err) != wisp.ReasonBlocked {
		t.Errorf("stream after the loopback exemption was removed: %v, want blocked", err)
	}
	denied := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !denied; {
		_, err := u.WriteTo([]byte("x"), udpEcho)
		denied = err != nil
		time.Sleep(20 * time.Millisecond)
	}
	if !denied {
		t.Error("datagrams to loopback still sent after the loopback exemption was removed")
	}

	// A lower stream limit: one TCP stream and the UDP stream are open.
	srv.SetConfig(reloadConfig("a", true, 2))
	if err := open(); closeReason(err) != wisp.ReasonThrottled {
		t.Errorf("stream over the reloaded maxStreamsPerSession 2: %v, want throttled", err)
	}

	// The app is gone: the session is closed with the auth reason.
	srv.SetConfig(reloadConfig("b", true, 3))
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("session of a removed app still open after the reload")
	}
	var he *wispclient.SessionClosedError
	if err := s.Err(); !errors.As(err, &he) || he.Reason != wisp.ReasonAuthBad {
		t.Fatalf("session error %v, want CLOSE %v on stream 0", err, wisp.ReasonAuthBad)
	}
	waitFor(t, func() bool { return srv.Stats().Sessions == 0 })
}
