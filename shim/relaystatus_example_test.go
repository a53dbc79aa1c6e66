//go:build !js

package shim_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// An app shows its relay session's state, say a "reconnecting" banner,
// from OnStatus. With resume (the default, with a relay that offers it), a
// lost WebSocket brings SessionReconnecting and then SessionResumed, and
// the sockets go on; SessionLost means they failed.
func ExampleSessionEvent() {
	srv := relay.New(&relay.Options{Config: relay.DevConfig(), Logger: slog.New(slog.DiscardHandler)})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	echo, _ := net.Listen("tcp", "127.0.0.1:0")
	defer echo.Close()
	go func() {
		c, _ := echo.Accept()
		io.Copy(c, c)
		c.Close()
	}()

	events := make(chan shim.SessionEvent, 8)
	t := shim.RelayTransport("ws"+strings.TrimPrefix(hs.URL, "http")+"/wisp/", &shim.RelayOptions{
		Resume: &shim.ResumeOptions{ReplayBuffer: 1 << 20}, // 1 MiB kept for a replay
		OnStatus: func(e shim.SessionEvent) {
			switch e.Status {
			case shim.SessionReconnecting:
				// show "reconnecting: " + e.Err.Error(); Reads and Writes wait
			case shim.SessionResumed:
				// hide it: nothing was lost
			case shim.SessionLost:
				// the sockets failed with e.Err's status: reconnect the app
			}
			events <- e
		},
	})
	host, _ := shim.NewHostName("127.0.0.1")
	s := shim.NewStreamSocket(t)
	if err := s.Connect(context.Background(), host, strconv.Itoa(echo.Addr().(*net.TCPAddr).Port)); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-events)

	t.Close() // the socket fails now
	fmt.Println(<-events)
	_, err := s.Write([]byte("late"))
	fmt.Println(shim.GetStatus(err))
	// Output:
	// Connected
	// Closed: shim: the relay transport was closed: use of closed network connection
	// OperationAborted
}
