//go:build !js

package shim_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"

	"github.com/sockshim/sockshim/shim"
)

func ExampleStreamSocket() {
	// A loopback echo server stands in for a real service.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, _ := ln.Accept()
		io.Copy(c, c)
		c.Close()
	}()

	host, _ := shim.NewHostName("127.0.0.1")
	s := new(shim.StreamSocket) // DefaultTransport: OS sockets natively, the page's relay in a browser
	defer s.Close()
	if err := s.Connect(context.Background(), host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)); err != nil {
		if errors.Is(err, shim.ErrAccessDenied) {
			log.Fatal("the app lacks the capability: ", err)
		}
		log.Fatal(shim.GetStatus(err), err)
	}
	s.Write([]byte("hello"))
	buf := make([]byte, 5)
	io.ReadFull(s, buf)
	fmt.Println(string(buf))
	// Output: hello
}

func ExampleGetStatus() {
	host, _ := shim.NewHostName("127.0.0.1")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close() // nothing listens there now

	err := new(shim.StreamSocket).Connect(context.Background(), host, port)
	fmt.Println(shim.GetStatus(err))
	// Output: ConnectionRefused
}

func ExampleRelayTransport() {
	// Tunnel through a sockshim relay (make run serves one on 127.0.0.1:8080).
	s := shim.NewStreamSocket(shim.RelayTransport("ws://127.0.0.1:8080/wisp/", &shim.RelayOptions{
		AppID: "myapp", Secret: "from-the-relay-config",
	}))
	_ = s
}
