//go:build !js

// Command servers runs the real loopback servers the JS API tests
// (test/jsapi) talk to through the relay, prints their addresses as one
// JSON line, and exits when its standard input closes.
//
//	echo      TCP echo
//	tls       TLS echo with a throwaway CA (testutil.GenerateCA; caPEM is its root), certificate for localhost and 127.0.0.1
//	starttls  line protocol: "STARTTLS\n" is answered "GO\n", then TLS echo
//	halfclose reads to EOF, answers "got N bytes", closes
//	reset     accepts and resets the connection at once
//	stall     reads nothing until a connection to release arrives
//	release   each connection makes every stall connection drain what it holds
//	refused   a port nothing listens on
//	udpEcho   UDP echo
//	ttl       answers "ttl N\n", the IP TTL the connection's packets carried, then echoes
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"

	"github.com/sockshim/sockshim/internal/testutil"
)

func listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	return ln
}

func serve(ln net.Listener, h func(net.Conn)) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); h(c) }()
		}
	}()
}

func main() {
	addrs := map[string]string{}
	echo := func(c net.Conn) { io.Copy(c, c) }

	ln := listen()
	serve(ln, echo)
	addrs["echo"] = ln.Addr().String()

	cfg, caPEM := tlsConfig()
	addrs["caPEM"] = caPEM
	tln := tls.NewListener(listen(), cfg)
	serve(tln, echo)
	addrs["tls"] = tln.Addr().String()

	ln = listen()
	serve(ln, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "STARTTLS\n" {
				break
			}
			fmt.Fprintf(c, "plain: %s", line)
		}
		io.WriteString(c, "GO\n")
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		io.Copy(tc, tc)
	})
	addrs["starttls"] = ln.Addr().String()

	ln = listen()
	serve(ln, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "got %d bytes", n)
	})
	addrs["halfclose"] = ln.Addr().String()

	ln = listen()
	serve(ln, func(c net.Conn) { c.(*net.TCPConn).SetLinger(0) })
	addrs["reset"] = ln.Addr().String()

	var mu sync.Mutex
	released := make(chan struct{})
	ln = listen()
	serve(ln, func(c net.Conn) {
		mu.Lock()
		ch := released
		mu.Unlock()
		<-ch
		n, _ := io.Copy(io.Discard, c)
		_ = n
	})
	addrs["stall"] = ln.Addr().String()
	ln = listen()
	serve(ln, func(c net.Conn) {
		mu.Lock()
		close(released)
		released = make(chan struct{})
		mu.Unlock()
		io.WriteString(c, "released\n")
	})
	addrs["release"] = ln.Addr().String()

	ln = listen()
	serve(ln, func(c net.Conn) {
		fmt.Fprintf(c, "ttl %d\n", peerTTL(c))
		io.Copy(c, c)
	})
	addrs["ttl"] = ln.Addr().String()

	ln = listen()
	addrs["refused"] = ln.Addr().String()
	ln.Close()

	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := uc.ReadFrom(buf)
			if err != nil {
				return
			}
			uc.WriteTo(buf[:n], from)
		}
	}()
	addrs["udpEcho"] = uc.LocalAddr().String()

	json.NewEncoder(os.Stdout).Encode(addrs)
	io.Copy(io.Discard, os.Stdin)
}

// tlsConfig serves a leaf for localhost and 127.0.0.1 (its chain: leaf,
// intermediate) from a throw-away CA, whose root PEM the browser trusts.
func tlsConfig() (*tls.Config, string) {
	ca, err := testutil.GenerateCA("sockshim jsapi test CA")
	if err != nil {
		log.Fatal(err)
	}
	cert, err := ca.IssueLeaf(testutil.LeafOptions{Hosts: []string{"localhost", "127.0.0.1"}, CommonName: "sockshim jsapi test server"})
	if err != nil {
		log.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, string(ca.RootPEM())
}
