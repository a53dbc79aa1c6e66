//go:build !js

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sockshim/sockshim/internal/syncbuf"
	"github.com/sockshim/sockshim/relay"
)

// server is a Wisp server under test: a child process (its CPU time and RSS
// come from /proc/<pid>), or the relay in this process when profiling.
type server struct {
	name string
	url  string // Wisp endpoint
	pid  int    // 0: in-process, no /proc numbers
	stop func()
}

// clkTck is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clkTck = 100

// cpuSeconds is the user+system CPU time of a process so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; the fields after its
	// closing parenthesis are fixed: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return float64(ut+st) / clkTck, nil
}

// rssBytes is a process's resident set (VmRSS).
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n << 10, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// raiseNoFile lifts this process's soft RLIMIT_NOFILE to the hard limit.
// Go does that by itself at startup, but restores the old soft limit in
// child processes unless the program sets the limit explicitly, as here:
// the relay and node inherit the raised limit.
func raiseNoFile() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	l.Cur = l.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// benchConfig is the relay's policy for the bench: the development app
// (loopback allowed, no Origin needed) with its per-app limits raised above
// what the bench opens, so the rows measure the relay, not its quotas (the
// defaults allow 256 streams per session and 1000 opens/s). WebRTC is on,
// with loopback candidates only, as `relay -dev` has it, for the
// DatagramSocket row's data channel; it costs nothing until a client offers.
const benchConfig = `{
"webrtc": {"loopback": true, "udp4Only": true, "interfaces": ["lo"]},
"apps": [{
	"id": "bench",
	"origins": ["http://127.0.0.1:*"],
	"allowNoOrigin": true,
	"capabilities": ["internetClient", "privateNetworkClientServer"],
	"loopbackExempt": true,
	"limits": {"maxStreamsPerSession": 60000, "maxStreams": 60000, "streamsPerSecond": 1e9, "streamBurst": 1000000000}
}]}`

// startRelayProcess runs the relay binary with benchConfig on a free
// loopback port and waits for its "listening on" line.
func startRelayProcess(bin, configPath string) (*server, error) {
	cmd := exec.Command(bin, "-config", configPath, "-listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logs := syncbuf.Buffer{Max: 1 << 20}
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	const prefix = "sockshim relay listening on http://"
	select {
	case l := <-lines:
		addr, ok := strings.CutPrefix(l, prefix)
		if !ok {
			stop()
			return nil, fmt.Errorf("relay printed %q", l)
		}
		return &server{name: "relay", url: "ws://" + addr + "/wisp/", pid: cmd.Process.Pid, stop: stop}, nil
	case <-exited:
		return nil, fmt.Errorf("relay exited: %s", logs.String())
	case <-time.After(15 * time.Second):
		stop()
		return nil, fmt.Errorf("relay did not start: %s", logs.String())
	}
}

// startRelayInProcess serves the relay library in this process (for pprof).
func startRelayInProcess() (*server, error) {
	cfg, err := relay.ParseConfig([]byte(benchConfig))
	if err != nil {
		return nil, err
	}
	srv := relay.New(&relay.Options{
		Config: cfg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
	}
	return &server{name: "relay (in-process)", url: "ws://" + ln.Addr().String() + "/wisp/", stop: stop}, nil
}

// startWispJS runs the wisp-js server CLI from test/interop on a free
// loopback port, loopback destinations allowed.
func startWispJS(interopDir string) (*server, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is not installed")
	}
	if interopDir, err = filepath.Abs(interopDir); err != nil {
		return nil, err
	}
	cli := filepath.Join(interopDir, "node_modules", "@mercuryworkshop", "wisp-js", "src", "bin", "server_cli.mjs")
	if _, err := os.Stat(cli); err != nil {
		return nil, fmt.Errorf("wisp-js is not installed (run scripts/install-npm.sh): %v", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logs := syncbuf.Buffer{Max: 1 << 20}
	cmd := exec.Command(node, cli, "-H", "127.0.0.1", "-P", strconv.Itoa(port), "-L", "NONE",
		"-O", `{"allow_loopback_ips":true}`)
	cmd.Dir = interopDir
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("wisp-js server exited: %s", logs.String())
		default:
		}
		if resp, err := client.Get(base); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("wisp-js server did not start: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &server{name: "wisp-js", url: "ws://127.0.0.1:" + strconv.Itoa(port) + "/", pid: cmd.Process.Pid, stop: stop}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// echoServer is a TCP echo service on 127.0.0.1, the destination of every
// measurement.
type echoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startEcho() (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &echoServer{ln: ln, conns: map[net.Conn]struct{}{}}
	go func() {
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil { // EMFILE and the like: the next accept may work
				progress("echo server: %v", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			e.mu.Lock()
			e.conns[c] = struct{}{}
			e.mu.Unlock()
			go func() {
				// A plain read/write loop: io.Copy would splice through a
				// pipe, 2 more descriptors per connection, and 10,000 idle
				// streams would run out of them.
				buf := make([]byte, 32<<10)
				io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, buf)
				c.Close()
				e.mu.Lock()
				delete(e.conns, c)
				e.mu.Unlock()
			}()
		}
	}()
	return e, nil
}

func (e *echoServer) port() uint16 { return uint16(e.ln.Addr().(*net.TCPAddr).Port) }

func (e *echoServer) close() {
	e.ln.Close()
	e.mu.Lock()
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
}
