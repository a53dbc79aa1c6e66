//go:build !js

package shim_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"

	"github.com/sockshim/sockshim/shim"
)

func ExampleDialer() {
	// shim.Listen stands in for a real service (DefaultTransport: OS
	// sockets natively).
	ln, err := shim.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()

	d := &shim.Dialer{} // Transport: shim.RelayTransport(url, nil) to go through a relay
	conn, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, shim.ErrAccessDenied):
			log.Fatal("the app lacks the capability: ", err)
		case errors.As(err, &ne) && ne.Timeout():
			log.Fatal("timed out: ", err)
		}
		log.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("hello"))
	buf := make([]byte, 5)
	io.ReadFull(conn, buf)
	fmt.Println(string(buf))
	// Output: hello
}

func ExampleDialer_http() {
	d := &shim.Dialer{Transport: shim.RelayTransport("wss://relay.example/wisp/", nil)}
	// In a browser this also makes Go's net/http use real TCP (and Go's
	// TLS) through the relay instead of fetch.
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	_ = client
}

func ExampleListenPacket() {
	pc, err := shim.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer pc.Close()
	// A second socket, connected to the first, sends it a datagram.
	c, err := new(shim.Dialer).Dial("udp", pc.LocalAddr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	buf := make([]byte, 64)
	n, _, err := pc.ReadFrom(buf)
	fmt.Println(string(buf[:n]), err)
	// Output: ping <nil>
}
