//go:build linux

package shim_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"

	"github.com/sockshim/sockshim/shim"
)

func ExampleStreamSocketControl() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, _ := ln.Accept()
		io.Copy(c, c)
		c.Close()
	}()

	s := new(shim.StreamSocket)
	defer s.Close()
	// Before Connect. Through a relay they travel to its socket; a plain
	// Wisp relay refuses them with ErrNotSupported.
	s.Control().SetOutboundBufferSizeInBytes(64 << 10) // SO_SNDBUF
	s.Control().SetOutboundUnicastHopLimit(32)         // IP TTL / IPv6 hop limit
	s.Control().SetSerializeConnectionAttempts(true)   // one address at a time
	host, _ := shim.NewHostName("127.0.0.1")
	if err := s.Connect(context.Background(), host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)); err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Control().OutboundUnicastHopLimit())
	// Output: 32
}

func ExampleStreamSocket_RefreshInformation() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, _ := ln.Accept()
		io.Copy(c, c)
		c.Close()
	}()

	s := new(shim.StreamSocket)
	defer s.Close()
	host, _ := shim.NewHostName("127.0.0.1")
	if err := s.Connect(context.Background(), host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)); err != nil {
		log.Fatal(err)
	}
	s.Write([]byte("ping"))
	io.ReadFull(s, make([]byte, 4))
	info, err := s.RefreshInformation(context.Background()) // through a relay: the relay's TCP_INFO
	if err != nil {
		log.Fatal(err)
	}
	rtt := info.RoundTripTimeStatistics // µs; Sum is the smoothed RTT
	fmt.Println(rtt.Sum > 0, rtt.Min <= rtt.Max)
	// Output: true true
}

func ExampleStreamSocketListenerControl() {
	l := shim.NewStreamSocketListener(shim.DirectTransport(nil))
	defer l.Close()
	// Before Bind; each accepted connection gets them (through a relay:
	// the relay's sockets, or ErrNotSupported from a plain Wisp relay).
	l.Control().SetOutboundBufferSizeInBytes(64 << 10) // SO_SNDBUF
	l.Control().SetOutboundUnicastHopLimit(32)         // IP TTL / IPv6 hop limit, the SYN-ACK's too
	host, _ := shim.NewHostName("127.0.0.1")
	if err := l.BindEndpoint(context.Background(), host, ""); err != nil {
		log.Fatal(err)
	}
	go func() {
		c, err := net.Dial("tcp", "127.0.0.1:"+l.Information().LocalPort)
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	s, err := l.Accept()
	if err != nil {
		log.Fatal(err)
	}
	s.Close()
	fmt.Println(l.Control().OutboundUnicastHopLimit())
	// Output: 32
}
