//go:build !js

package e2e

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/shim"
)

// runRelay starts the relay binary with -dev on addr and returns the
// process and its HTTP address, once it listens. The caller kills it.
func runRelay(t *testing.T, addr string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(builtRelay(t), "-dev", "-listen", addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "sockshim relay listening on "); ok {
				got <- strings.TrimPrefix(u, "http://")
			}
		}
	}()
	select {
	case a := <-got:
		return cmd, a
	case <-time.After(20 * time.Second):
		t.Fatal("relay did not start")
		return nil, ""
	}
}

// TestRelayKilledMidSession: a relay killed (SIGKILL) under an open socket
// makes it fail with ConnectionResetByPeer and ErrSessionLost in its
// chain, and the next Connect on the same transport, to a relay started
// again on the same port, gets a new session.
func TestRelayKilledMidSession(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	cmd, addr := runRelay(t, "127.0.0.1:0")
	tr := shim.RelayTransport("ws://"+addr+"/wisp/", nil)
	connect := func() *shim.StreamSocket {
		s := shim.NewStreamSocket(tr)
		if err := s.Connect(ctxT(t, 20*time.Second), hostName(t, "127.0.0.1"), strconv.Itoa(echo.Port)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if _, err := s.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, make([]byte, 2)); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := connect()
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	s.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := s.Read(make([]byte, 1))
	if shim.GetStatus(err) != shim.SocketErrorConnectionResetByPeer || !errors.Is(err, wispclient.ErrSessionLost) || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after the relay was killed: %v (status %v), want ConnectionResetByPeer wrapping ErrSessionLost", err, shim.GetStatus(err))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("%v claims a timeout", err)
	}
	runRelay(t, addr)
	connect()
}
