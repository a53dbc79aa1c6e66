//go:build !js

package testutil

import (
	"net"
	"sync"
	"testing"
)

// UDPEchoServer starts a UDP echo server on 127.0.0.1 (each datagram is
// sent back whole to its sender) and returns its address.
func UDPEchoServer(t testing.TB) *net.UDPAddr {
	t.Helper()
	return ServeUDP(t, func(b []byte) []byte { return b })
}

// ServeUDP starts a UDP server on 127.0.0.1 that answers each datagram with
// handle's result (nil: no answer) until the test ends.
func ServeUDP(t testing.TB, handle func([]byte) []byte) *net.UDPAddr {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { c.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if out := handle(buf[:n]); out != nil {
				c.WriteToUDPAddrPort(out, from)
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr)
}
