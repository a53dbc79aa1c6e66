//go:build !js

package testutil

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a relay (NewProxy takes its Wisp URL
// and returns the proxy's) whose connections can turn into a blackhole
// (bytes are read and dropped both ways, no FIN: a dead network) or be
// reset (a relay killed, a NAT gone).
type Proxy struct {
	ln      net.Listener
	target  string
	dropped map[net.Conn]bool
	mu      sync.Mutex
	conns   []*net.TCPConn
	wg      sync.WaitGroup
	stopped bool
}

func NewProxy(t testing.TB, wispURL string) (*Proxy, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(wispURL)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: u.Host, dropped: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns = append(p.conns, c.(*net.TCPConn), up.(*net.TCPConn))
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pump(c, up)
		go p.pump(up, c)
	}
}

func (p *Proxy) pump(from, to net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !p.isDropped(from) {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := to.(*net.TCPConn); ok && !p.isDropped(from) {
				tc.CloseWrite()
			}
			return
		}
	}
}

// Reset closes every connection with RST.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.SetLinger(0)
		c.Close()
	}
}

// Blackhole drops every byte from now on, both ways, on every connection
// open now (no FIN, no RST: a dead network); new connections still pass.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		p.dropped[c] = true
	}
}

func (p *Proxy) isDropped(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped[c]
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.stopped = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}
