//go:build !js

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sockshim/sockshim/internal/syncbuf"
)

// chromium is a headless Chromium driven over a bare DevTools pipe
// (--remote-debugging-pipe: the browser reads commands from fd 3 and writes
// replies and events to fd 4, each a JSON message ended by a NUL byte).
// No chromedp, and no CDP domain that watches traffic: Network is never
// enabled, so Chromium does not copy every WebSocket frame into a DevTools
// event (with chromedp, which enables Network on attach, every client tops
// out near 25 MiB/s). Only Target, Runtime (evaluate, exceptions and
// console for diagnostics) and Log are used.
type chromium struct {
	cmd     *exec.Cmd
	in      io.WriteCloser // fd 3 of the browser
	profile string
	exited  chan struct{}
	out     syncbuf.Buffer // the browser's own stdout and stderr

	wmu    sync.Mutex
	mu     sync.Mutex
	nextID int64
	calls  map[int64]chan cdpReply
	dead   error

	logMu sync.Mutex
	log   []string // console messages, exceptions, browser log entries (last logKeep)
}

const logKeep = 200

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type cdpMessage struct {
	ID        int64           `json:"id"`
	Method    string          `json:"method"`
	SessionID string          `json:"sessionId"`
	Params    json.RawMessage `json:"params"`
	cdpReply
}

// chromiumFlags are the switches every bench browser gets: headless, no
// sandbox (the bench runs as root), a fresh profile, nothing that talks to
// the internet, loopback WebRTC (the DatagramSocket row) without mDNS
// names for host candidates (with them, Chromium announces a random
// *.local name by multicast on every interface; the relay refuses such
// candidates anyway).
func chromiumFlags(profile string) []string {
	return []string{
		"--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-extensions",
		"--disable-background-timer-throttling", "--disable-renderer-backgrounding",
		"--disable-features=WebRtcHideLocalIpsWithMdns",
		"--allow-loopback-in-peer-connection",
		"--user-data-dir=" + profile,
		"about:blank",
	}
}

// startChromium starts the browser binary (path) over a DevTools pipe.
func startChromium(path string) (*chromium, error) {
	profile, err := os.MkdirTemp("", "sockshim-bench-chromium-")
	if err != nil {
		return nil, err
	}
	// fd 3: commands to the browser; fd 4: its replies.
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(profile)
		return nil, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		cmdR.Close()
		cmdW.Close()
		os.RemoveAll(profile)
		return nil, err
	}
	c := &chromium{profile: profile, in: cmdW, exited: make(chan struct{}), calls: map[int64]chan cdpReply{}}
	c.out.Max = 1 << 20
	c.cmd = exec.Command(path, chromiumFlags(profile)...)
	c.cmd.ExtraFiles = []*os.File{cmdR, repW}
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, kv := range os.Environ() {
		// A Go test harness's certificate overrides break the browser's store.
		if k, _, _ := strings.Cut(kv, "="); k != "SSL_CERT_FILE" && k != "SSL_CERT_DIR" {
			c.cmd.Env = append(c.cmd.Env, kv)
		}
	}
	err = c.cmd.Start()
	cmdR.Close()
	repW.Close()
	if err != nil {
		cmdW.Close()
		repR.Close()
		os.RemoveAll(profile)
		return nil, fmt.Errorf("starting %s: %v", path, err)
	}
	go func() {
		c.cmd.Wait()
		close(c.exited)
	}()
	go c.readLoop(repR)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.call(ctx, "", "Browser.getVersion", nil); err != nil {
		c.close()
		return nil, fmt.Errorf("chromium did not answer on its DevTools pipe: %v\n%s", err, lastLines(c.out.String(), 10))
	}
	return c, nil
}

func (c *chromium) readLoop(r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		b, err := br.ReadBytes(0)
		if err != nil {
			c.mu.Lock()
			c.dead = fmt.Errorf("the DevTools pipe closed: %v", err)
			for id, ch := range c.calls {
				close(ch)
				delete(c.calls, id)
			}
			c.mu.Unlock()
			return
		}
		var m cdpMessage
		if err := json.Unmarshal(b[:len(b)-1], &m); err != nil {
			continue
		}
		if m.ID != 0 {
			c.mu.Lock()
			ch := c.calls[m.ID]
			delete(c.calls, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m.cdpReply
			}
			continue
		}
		c.event(m.Method, m.Params)
	}
}

// event keeps diagnostics: console output, uncaught exceptions, browser log
// entries.
func (c *chromium) event(method string, params json.RawMessage) {
	var line string
	switch method {
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		json.Unmarshal(params, &p)
		var parts []string
		for _, a := range p.Args {
			if a.Value != nil {
				parts = append(parts, fmt.Sprint(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		line = "console." + p.Type + ": " + strings.Join(parts, " ")
	case "Runtime.exceptionThrown":
		var p struct {
			ExceptionDetails struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		json.Unmarshal(params, &p)
		line = "uncaught: " + p.ExceptionDetails.Text + " " + p.ExceptionDetails.Exception.Description
	case "Log.entryAdded":
		var p struct {
			Entry struct {
				Level, Text, URL string
			} `json:"entry"`
		}
		json.Unmarshal(params, &p)
		line = "browser " + p.Entry.Level + ": " + p.Entry.Text + " " + p.Entry.URL
	default:
		return
	}
	c.logMu.Lock()
	c.log = append(c.log, line)
	if len(c.log) > logKeep {
		c.log = c.log[len(c.log)-logKeep:]
	}
	c.logMu.Unlock()
}

// recentLog returns the last n diagnostic lines.
func (c *chromium) recentLog(n int) string {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	l := c.log
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// call sends one command (to a page session when session is set) and waits
// for its reply.
func (c *chromium) call(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	ch := make(chan cdpReply, 1)
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		return nil, c.dead
	}
	c.nextID++
	id := c.nextID
	c.calls[id] = ch
	c.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	c.wmu.Lock()
	_, err = c.in.Write(append(b, 0))
	c.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: %v", method, c.dead)
		}
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s (%d)", method, r.Error.Message, r.Error.Code)
		}
		return r.Result, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// page is one tab, attached with a flat session.
type page struct {
	c       *chromium
	session string
}

// openPage creates a tab at url and attaches to it; Runtime and Log are
// enabled for diagnostics (neither watches traffic), Network only when
// network is set.
func (c *chromium) openPage(ctx context.Context, url string, network bool) (*page, error) {
	res, err := c.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"})
	if err != nil {
		return nil, err
	}
	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := json.Unmarshal(res, &t); err != nil {
		return nil, err
	}
	res, err = c.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true})
	if err != nil {
		return nil, err
	}
	var a struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(res, &a); err != nil {
		return nil, err
	}
	p := &page{c: c, session: a.SessionID}
	domains := []string{"Runtime.enable", "Log.enable"}
	if network { // only to show what it costs (-browser-cdp-network)
		domains = append(domains, "Network.enable")
	}
	for _, m := range domains {
		if _, err := c.call(ctx, p.session, m, nil); err != nil {
			return nil, err
		}
	}
	if _, err := c.call(ctx, p.session, "Page.navigate", map[string]any{"url": url}); err != nil {
		return nil, err
	}
	return p, nil
}

// eval evaluates a JavaScript expression in the page, awaits it when it is
// a promise, and unmarshals its value (JSON-serialisable) into out.
func (p *page) eval(ctx context.Context, expr string, out any) error {
	res, err := p.c.call(ctx, p.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "awaitPromise": true, "returnByValue": true,
	})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		d := e.Exception.Description
		if d == "" {
			d = e.Text
		}
		return errors.New(firstLine(d))
	}
	if out == nil || len(r.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

func (c *chromium) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	c.call(ctx, "", "Browser.close", nil)
	cancel()
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
	c.in.Close()
	os.RemoveAll(c.profile)
}

// threadCPU is CPU time of the browser's renderer processes, from
// /proc/<pid>/task/<tid>/schedstat (nanoseconds on CPU, not 10 ms ticks):
// main is the renderer main threads (a page's JavaScript and its wasm; the
// thread whose tid is the pid), worker the dedicated Worker threads, all
// every thread of the renderers (with V8's GC and compiler helpers).
type threadCPU struct {
	main, worker, all time.Duration
}

// cpuSnapshot is each renderer thread's CPU time so far.
type cpuSnapshot map[int]threadSample

type threadSample struct {
	class int // 0 other, 1 main, 2 worker
	ns    time.Duration
}

// sub is the CPU the threads of a used between b and a; a thread that
// exited in between is missing from a and not counted, one that started is
// counted whole.
func (a cpuSnapshot) sub(b cpuSnapshot) threadCPU {
	var t threadCPU
	for tid, s := range a {
		d := s.ns - b[tid].ns
		t.all += d
		switch s.class {
		case 1:
			t.main += d
		case 2:
			t.worker += d
		}
	}
	return t
}

// rendererCPU snapshots every thread of every renderer process of this
// browser.
func (c *chromium) rendererCPU() cpuSnapshot {
	snap := cpuSnapshot{}
	for _, pid := range descendants(c.cmd.Process.Pid) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, []byte("--type=renderer")) {
			continue
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
		for _, task := range tasks {
			tid, err := strconv.Atoi(filepath.Base(task))
			if err != nil {
				continue
			}
			ss, err1 := os.ReadFile(task + "/schedstat")
			comm, err2 := os.ReadFile(task + "/comm")
			if err1 != nil || err2 != nil {
				continue
			}
			f := strings.Fields(string(ss))
			if len(f) == 0 {
				continue
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				continue
			}
			s := threadSample{ns: time.Duration(ns)}
			switch {
			case tid == pid:
				s.class = 1
			case strings.HasPrefix(strings.TrimSpace(string(comm)), "DedicatedWorker"):
				s.class = 2
			}
			snap[tid] = s
		}
	}
	return snap
}

// descendants lists the processes below pid (children, grandchildren, ...).
func descendants(pid int) []int {
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[p] = pp
	}
	var out []int
	for p := range parent {
		for q, n := parent[p], 0; q != 0 && n < 16; q, n = parent[q], n+1 {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// startProfile starts V8's sampling profiler on the page (diagnosis only:
// it slows the page down).
func (p *page) startProfile(ctx context.Context) error {
	for _, m := range []struct {
		method string
		params any
	}{
		{"Profiler.enable", nil},
		{"Profiler.setSamplingInterval", map[string]any{"interval": 200}},
		{"Profiler.start", nil},
	} {
		if _, err := p.c.call(ctx, p.session, m.method, m.params); err != nil {
			return err
		}
	}
	return nil
}

// stopProfile stops the profiler, writes the profile (Chrome DevTools'
// .cpuprofile format) to path, and returns the functions with the most
// samples of their own, as "percent name" lines.
func (p *page) stopProfile(ctx context.Context, path string, top int) (string, error) {
	res, err := p.c.call(ctx, p.session, "Profiler.stop", nil)
	if err != nil {
		return "", err
	}
	var r struct {
		Profile json.RawMessage `json:"profile"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, r.Profile, 0o644); err != nil {
		return "", err
	}
	var prof struct {
		Nodes []struct {
			CallFrame struct {
				FunctionName string `json:"functionName"`
				URL          string `json:"url"`
			} `json:"callFrame"`
			HitCount int `json:"hitCount"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(r.Profile, &prof); err != nil {
		return "", err
	}
	self := map[string]int{}
	total := 0
	for _, n := range prof.Nodes {
		name := n.CallFrame.FunctionName
		if name == "" {
			name = "(anonymous " + filepath.Base(n.CallFrame.URL) + ")"
		}
		self[name] += n.HitCount
		total += n.HitCount
	}
	type fn struct {
		name string
		n    int
	}
	var fns []fn
	for k, v := range self {
		fns = append(fns, fn{k, v})
	}
	slices.SortFunc(fns, func(a, b fn) int { return b.n - a.n })
	var sb strings.Builder
	for i, f := range fns {
		if i == top || total == 0 {
			break
		}
		fmt.Fprintf(&sb, "%5.1f%% %s\n", float64(f.n)*100/float64(total), f.name)
	}
	return sb.String(), nil
}
