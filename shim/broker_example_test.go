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
	"slices"
	"strings"
	"time"

	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// A listener is handed to the relay's broker; while the app is away a
// client connects and sends a request; a later transport of the same app
// lists what the broker holds and reclaims the held connection.
func ExampleAllSockets() {
	srv := relay.New(&relay.Options{Config: relay.DevConfig(), Resume: &relay.ResumeOptions{Disabled: true},
		Logger: slog.New(slog.DiscardHandler)})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/wisp/"
	ctx := context.Background()

	tab := shim.RelayTransport(url, nil)
	l := shim.NewStreamSocketListener(tab)
	host, _ := shim.NewHostName("127.0.0.1")
	if err := l.BindEndpoint(ctx, host, ""); err != nil {
		log.Fatal(err)
	}
	port := l.Information().LocalPort
	l.EnableTransferOwnership("web-task")
	if err := l.TransferOwnership("web", &shim.TransferOptions{Context: []byte("v1")}); err != nil {
		log.Fatal(err)
	}
	// The app may go away now (a closed tab): the relay holds the listener.

	c, err := net.Dial("tcp", "127.0.0.1:"+port) // the held listener accepts
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / while away"))
	c.(*net.TCPConn).CloseWrite()

	page := shim.RelayTransport(url, nil) // a reload of the same app
	var all map[string]*shim.SocketActivityInformation
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if all, err = shim.AllSockets(ctx, page); err != nil {
			log.Fatal(err)
		}
		if a := all["web/1"]; a != nil && a.Reason == shim.TriggerReasonSocketClosed {
			break
		}
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Println(id, all[id].SocketKind, all[id].Reason, all[id].TaskID, string(all[id].Context))
	}
	s, err := all["web/1"].StreamSocket()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	req, _ := io.ReadAll(s)
	fmt.Printf("%s\n", req)
	// Output:
	// web StreamSocketListener ConnectionAccepted web-task v1
	// web/1 StreamSocket SocketClosed web-task v1
	// GET / while away
}
