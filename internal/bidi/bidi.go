//go:build !js

// Package bidi drives headless Firefox over WebDriver BiDi
// (https://w3c.github.io/webdriver-bidi/): start the browser with a fresh
// profile, open a session on its WebSocket, navigate, evaluate scripts and
// receive the console. It needs no driver binary and no downloaded browser,
// only Debian's firefox-esr.
package bidi

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// DefaultBinary is Debian's Firefox ESR.
const DefaultBinary = "/usr/bin/firefox-esr"

// TestPrefs are the profile preferences a test run on loopback needs.
//
// WebRTC: Firefox gathers no loopback ICE candidates by default and hides
// host candidates behind mDNS names, so a peer connection between a page and
// a relay on 127.0.0.1 fails ("ICE failed, add a STUN server"). A real
// deployment needs neither: its relay has a routable address. The rest keeps
// a headless run from calling home on this machine's closed network.
//
// They live in testprefs.json, which test/jsapi's Firefox runner reads too,
// so both runners see the same Firefox.
var TestPrefs = func() map[string]any {
	var m map[string]any
	if err := json.Unmarshal(testPrefsJSON, &m); err != nil {
		panic("bidi: testprefs.json: " + err.Error())
	}
	return m
}()

//go:embed testprefs.json
var testPrefsJSON []byte

// Options configure Start.
type Options struct {
	Binary string         // default DefaultBinary, or $FIREFOX
	Prefs  map[string]any // default TestPrefs
	Env    []string       // the browser's environment; nil means os.Environ()
	Output io.Writer      // the browser's own stdout and stderr; nil discards
}

// Browser is a running Firefox with one BiDi session and one top-level
// browsing context.
type Browser struct {
	cmd     *exec.Cmd
	profile string
	conn    *websocket.Conn
	context string // the top-level browsing context id

	mu      sync.Mutex
	nextID  int
	pending map[int]chan reply
	onLog   func(LogEntry)
	err     error
	done    chan struct{}
}

// LogEntry is a log.entryAdded event: a console call or a JavaScript error.
type LogEntry struct {
	Type  string // "console" or "javascript"
	Level string // "debug", "info", "warn", "error"
	Text  string
}

type reply struct {
	Result json.RawMessage
	Err    error
}

var listening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// Binary returns the Firefox binary to use: $FIREFOX or DefaultBinary.
func Binary() string {
	if b := os.Getenv("FIREFOX"); b != "" {
		return b
	}
	return DefaultBinary
}

// Start starts headless Firefox with a fresh profile and opens a session.
// The caller must Close the browser.
func Start(ctx context.Context, o *Options) (_ *Browser, err error) {
	if o == nil {
		o = &Options{}
	}
	bin := o.Binary
	if bin == "" {
		bin = Binary()
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("firefox not found at %s (set $FIREFOX, or run scripts/install-firefox.sh)", bin)
	}
	prefs := o.Prefs
	if prefs == nil {
		prefs = TestPrefs
	}
	profile, err := os.MkdirTemp("", "bidi-firefox-")
	if err != nil {
		return nil, err
	}
	b := &Browser{profile: profile, pending: map[int]chan reply{}, done: make(chan struct{})}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if err := os.WriteFile(filepath.Join(profile, "user.js"), userJS(prefs), 0o644); err != nil {
		return nil, err
	}

	b.cmd = exec.Command(bin, "--headless", "--no-remote", "--profile", profile, "--remote-debugging-port", "0")
	b.cmd.Env = o.Env
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	b.cmd.Stdout = out
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(out, line)
			if m := listening.FindStringSubmatch(line); m != nil && !sent {
				urlc <- m[1]
				sent = true
			}
		}
		io.Copy(out, stderr)
		if !sent {
			close(urlc)
		}
	}()
	var url string
	select {
	case u, ok := <-urlc:
		if !ok {
			return nil, errors.New("firefox exited before its WebDriver BiDi server listened")
		}
		url = u
	case <-ctx.Done():
		return nil, fmt.Errorf("firefox did not start its WebDriver BiDi server: %w", context.Cause(ctx))
	}

	b.conn, _, err = websocket.Dial(ctx, url+"/session", nil)
	if err != nil {
		return nil, fmt.Errorf("connecting to WebDriver BiDi at %s: %w", url, err)
	}
	b.conn.SetReadLimit(64 << 20)
	go b.readLoop()

	if _, err := b.Call(ctx, "session.new", map[string]any{"capabilities": map[string]any{}}); err != nil {
		return nil, err
	}
	if _, err := b.Call(ctx, "session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}); err != nil {
		return nil, err
	}
	tree, err := b.Call(ctx, "browsingContext.getTree", map[string]any{"maxDepth": 0})
	if err != nil {
		return nil, err
	}
	var t struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal(tree, &t); err != nil || len(t.Contexts) == 0 {
		return nil, fmt.Errorf("browsingContext.getTree: no top-level context in %s", tree)
	}
	b.context = t.Contexts[0].Context
	return b, nil
}

func userJS(prefs map[string]any) []byte {
	var sb strings.Builder
	for k, v := range prefs {
		j, _ := json.Marshal(v)
		fmt.Fprintf(&sb, "user_pref(%q, %s);\n", k, j)
	}
	return []byte(sb.String())
}

// OnLog sets the function that receives console and JavaScript error
// entries. It runs on the reader goroutine: it must not block.
func (b *Browser) OnLog(f func(LogEntry)) {
	b.mu.Lock()
	b.onLog = f
	b.mu.Unlock()
}

// Done is closed when the connection to the browser is lost.
func (b *Browser) Done() <-chan struct{} { return b.done }

// Err says why Done was closed.
func (b *Browser) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *Browser) readLoop() {
	var err error
	defer func() {
		b.mu.Lock()
		b.err = err
		for id, c := range b.pending {
			c <- reply{Err: fmt.Errorf("webdriver bidi: connection lost: %w", err)}
			delete(b.pending, id)
		}
		b.mu.Unlock()
		close(b.done)
	}()
	for {
		var data []byte
		_, data, err = b.conn.Read(context.Background())
		if err != nil {
			return
		}
		var m struct {
			Type    string          `json:"type"`
			ID      int             `json:"id"`
			Result  json.RawMessage `json:"result"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
			Method  string          `json:"method"`
			Params  json.RawMessage `json:"params"`
		}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		switch m.Type {
		case "success", "error":
			b.mu.Lock()
			c := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if c == nil {
				continue
			}
			if m.Type == "error" {
				c <- reply{Err: fmt.Errorf("webdriver bidi: %s: %s", m.Error, m.Message)}
			} else {
				c <- reply{Result: m.Result}
			}
		case "event":
			if m.Method != "log.entryAdded" {
				continue
			}
			var e LogEntry
			json.Unmarshal(m.Params, &e)
			b.mu.Lock()
			f := b.onLog
			b.mu.Unlock()
			if f != nil {
				f(e)
			}
		}
	}
}

// Call sends one command and waits for its result.
func (b *Browser) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	c := make(chan reply, 1)
	b.mu.Lock()
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return nil, fmt.Errorf("webdriver bidi: connection lost: %w", err)
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = c
	b.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, fmt.Errorf("webdriver bidi: %s: %w", method, err)
	}
	select {
	case r := <-c:
		if r.Err != nil {
			return nil, fmt.Errorf("%s: %w", method, r.Err)
		}
		return r.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("webdriver bidi: %s: %w", method, context.Cause(ctx))
	}
}

// Navigate loads url in the browser's tab and waits for its load event.
func (b *Browser) Navigate(ctx context.Context, url string) error {
	return b.tab().Navigate(ctx, url)
}

// Evaluate evaluates a JavaScript expression in the tab, awaiting a promise,
// and decodes its JSON-serialisable result into v (nil discards it). The
// expression's value is passed through JSON.stringify in the page, so v may
// be any Go type that matches.
func (b *Browser) Evaluate(ctx context.Context, expr string, v any) error {
	return b.tab().Evaluate(ctx, expr, v)
}

// Poll evaluates expr until it yields a value other than null, undefined, ""
// or false, and decodes that value into v.
func (b *Browser) Poll(ctx context.Context, expr string, v any) error {
	return b.tab().Poll(ctx, expr, v)
}

func (b *Browser) tab() *Tab { return &Tab{b: b, id: b.context} }

// Tab is a top-level browsing context. The browser's first one is what
// Browser.Navigate, Evaluate and Poll drive; NewTab opens more, which a
// test can close as a user closes a tab (browsingContext.close: the page
// is unloaded, never kept in the back-forward cache as a navigation may).
type Tab struct {
	b  *Browser
	id string
}

// NewTab opens a new tab on about:blank (browsingContext.create).
func (b *Browser) NewTab(ctx context.Context) (*Tab, error) {
	res, err := b.Call(ctx, "browsingContext.create", map[string]any{"type": "tab"})
	if err != nil {
		return nil, err
	}
	var r struct {
		Context string `json:"context"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.Context == "" {
		return nil, fmt.Errorf("browsingContext.create: no context in %s", res)
	}
	return &Tab{b: b, id: r.Context}, nil
}

// Close closes the tab (browsingContext.close).
func (t *Tab) Close(ctx context.Context) error {
	_, err := t.b.Call(ctx, "browsingContext.close", map[string]any{"context": t.id})
	return err
}

// Navigate loads url in the tab and waits for its load event.
func (t *Tab) Navigate(ctx context.Context, url string) error {
	_, err := t.b.Call(ctx, "browsingContext.navigate", map[string]any{"context": t.id, "url": url, "wait": "complete"})
	return err
}

// Evaluate is Browser.Evaluate in this tab.
func (t *Tab) Evaluate(ctx context.Context, expr string, v any) error {
	res, err := t.b.Call(ctx, "script.evaluate", map[string]any{
		"expression":   "(async () => JSON.stringify(await (" + expr + ")))()",
		"target":       map[string]any{"context": t.id},
		"awaitPromise": true,
	})
	if err != nil {
		return err
	}
	var r struct {
		Type             string `json:"type"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return fmt.Errorf("script.evaluate: %w", err)
	}
	if r.Type == "exception" {
		return fmt.Errorf("script.evaluate: %s", r.ExceptionDetails.Text)
	}
	if v == nil || r.Result.Type != "string" {
		return nil
	}
	return json.Unmarshal([]byte(r.Result.Value), v)
}

// Poll is Browser.Poll in this tab.
func (t *Tab) Poll(ctx context.Context, expr string, v any) error {
	for {
		var raw json.RawMessage
		if err := t.Evaluate(ctx, expr, &raw); err != nil {
			return err
		}
		switch strings.TrimSpace(string(raw)) {
		case "", "null", `""`, "false":
		default:
			return json.Unmarshal(raw, v)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", expr, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close ends the session, stops the browser and removes its profile.
func (b *Browser) Close() error {
	if b.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		b.Call(ctx, "browser.close", map[string]any{})
		cancel()
		b.conn.CloseNow()
	}
	if b.cmd != nil && b.cmd.Process != nil {
		exited := make(chan struct{})
		go func() { b.cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			b.cmd.Process.Kill()
			<-exited
		}
	}
	return os.RemoveAll(b.profile)
}
