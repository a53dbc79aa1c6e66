//go:build !js

// Command wasmbrowser runs a js/wasm Go program (a test binary or a plain
// program) in headless Chromium or Firefox, and relays its stdout, stderr and
// exit code.
//
// Use it as the -exec program of go test:
//
//	go build -o bin/wasmbrowser ./tools/wasmbrowser
//	GOOS=js GOARCH=wasm go test -timeout 120s -exec="$(pwd)/bin/wasmbrowser" ./shim/...
//
// or run a program directly:
//
//	GOOS=js GOARCH=wasm go build -o /tmp/demo.wasm ./cmd/demo
//	bin/wasmbrowser -timeout 30s /tmp/demo.wasm arg1 arg2
//
// Usage:
//
//	wasmbrowser [runner flags] program.wasm [program args...]
//
// -browser=firefox (or $WASMBROWSER_BROWSER) runs Debian's firefox-esr (or
// $FIREFOX) instead of Chromium, driven over WebDriver BiDi (internal/bidi)
// with the test profile of bidi.TestPrefs.
//
// The runner serves a page, wasm_exec.js from $(go env GOROOT)/lib/wasm and
// the program over HTTP on 127.0.0.1:<random port>, starts Chromium (the
// binary in $CHROMIUM, or /usr/bin/chromium) with a fresh profile, and runs
// the program with os.Args = [program.wasm, args...].
//
// Output: bytes that the program writes to fd 1 and 2 come out unchanged on
// the runner's stdout and stderr, in order. Calls of the JavaScript console
// API (console.log, info, debug to stdout; warn, error, trace to stderr) are
// relayed in the same stream. Uncaught JavaScript exceptions and entries of
// the browser log (for example a failed WebSocket connection) go to stderr
// with the prefix "wasmbrowser: "; their order relative to the program's
// output is approximate.
//
// Environment of the program: the variables of the runner whose names start
// with SOCKSHIM_, plus GODEBUG and GOTRACEBACK when set, plus
// SOCKSHIM_PAGE_ORIGIN, the origin of the page (http://127.0.0.1:<port>).
// The runner also prints that origin to stderr. A browser sends it as the
// Origin header of every WebSocket handshake, so a server that the program
// talks to (such as a relay that a test harness started on 127.0.0.1) must
// accept it, for example with coder/websocket's
// AcceptOptions{OriginPatterns: []string{"127.0.0.1:*"}}, or the browser sees
// only a closed connection.
//
// Time limit: the -timeout flag (or $WASMBROWSER_TIMEOUT) when given;
// otherwise the value of -test.timeout in the program's arguments plus 30s;
// otherwise 10 minutes. When the limit passes, the runner exits with status
// 124. (A test binary prints its goroutines when its own -test.timeout fires,
// which happens first unless the program keeps the browser's thread busy.)
//
// Exit status: the program's exit code; 124 when the time limit passed; 125
// when the runner or the browser failed (Chromium missing or did not start,
// page crashed).
package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sockshim/sockshim/internal/bidi"
)

const (
	exitTimeout = 124
	exitRunner  = 125

	// startupLimit bounds the start of Chromium and the load of the page.
	startupLimit = 30 * time.Second
	// testMargin is added to -test.timeout, so that the test binary's own
	// timeout panic (with goroutine stacks) comes first.
	testMargin = 30 * time.Second
	// defaultLimit applies when neither -timeout nor -test.timeout is set.
	defaultLimit = 10 * time.Minute
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// fail prints a message of the runner on stderr and returns exitRunner.
func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "wasmbrowser: "+format+"\n", args...)
	return exitRunner
}

type options struct {
	timeout  time.Duration
	chromium string
	firefox  string
	browser  string // "chromium" or "firefox"
	verbose  bool
	prog     string
	args     []string
}

func parseArgs(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("wasmbrowser", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: wasmbrowser [flags] program.wasm [args...]\n")
		fs.PrintDefaults()
	}
	envTimeout := time.Duration(0)
	if s := os.Getenv("WASMBROWSER_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("WASMBROWSER_TIMEOUT=%q: %v", s, err)
		}
		envTimeout = d
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	fs.DurationVar(&o.timeout, "timeout", envTimeout, "time limit for the whole run (default: -test.timeout + 30s, or 10m; env WASMBROWSER_TIMEOUT)")
	fs.StringVar(&o.chromium, "chromium", chromium, "Chromium binary (env CHROMIUM)")
	fs.StringVar(&o.firefox, "firefox", bidi.Binary(), "Firefox binary (env FIREFOX)")
	browser := os.Getenv("WASMBROWSER_BROWSER")
	if browser == "" {
		browser = "chromium"
	}
	fs.StringVar(&o.browser, "browser", browser, "the browser: chromium or firefox (env WASMBROWSER_BROWSER)")
	fs.BoolVar(&o.verbose, "v", os.Getenv("WASMBROWSER_VERBOSE") != "", "print timings and the browser's own output (env WASMBROWSER_VERBOSE)")
	// Parsing stops at the first non-flag argument: the program.
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return nil, errors.New("missing program.wasm")
	}
	if o.browser != "chromium" && o.browser != "firefox" {
		return nil, fmt.Errorf("-browser %q: want chromium or firefox", o.browser)
	}
	o.prog = fs.Arg(0)
	o.args = fs.Args()[1:]
	if o.timeout <= 0 {
		o.timeout = defaultLimit
		if d, ok := testTimeout(o.args); ok && d > 0 {
			o.timeout = d + testMargin
		}
	}
	return o, nil
}

// testTimeout finds -test.timeout in the arguments of a test binary.
func testTimeout(args []string) (time.Duration, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "test.timeout" {
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return 0, false
			}
			val = args[i+1]
		}
		d, err := time.ParseDuration(val)
		if err != nil {
			return 0, false
		}
		return d, true
	}
	return 0, false
}

// programEnv is the environment of the wasm program.
func programEnv(origin string) map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if strings.HasPrefix(k, "SOCKSHIM_") || k == "GODEBUG" || k == "GOTRACEBACK" {
			env[k] = v
		}
	}
	env["SOCKSHIM_PAGE_ORIGIN"] = origin
	return env
}

// browserEnv is the environment of Chromium: the runner's, without the
// variables that break the browser's certificate store.
func browserEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "SSL_CERT_FILE" || k == "SSL_CERT_DIR" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func goroot() (string, error) {
	if r := os.Getenv("GOROOT"); r != "" {
		return r, nil
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// server serves the page and receives the program's output and exit code.
type server struct {
	base     string // "/<token>"
	page     []byte
	wasmExec []byte
	prog     string

	outMu sync.Mutex
	exit  chan int
	once  sync.Once
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, s.base)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case rest == "/" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(s.page)
	case rest == "/wasm_exec.js" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(s.wasmExec)
	case rest == "/prog.wasm" && r.Method == http.MethodGet:
		f, err := os.Open(s.prog)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/wasm")
		w.Header().Set("Cache-Control", "no-store")
		http.ServeContent(w, r, "prog.wasm", time.Time{}, f)
	case rest == "/out" && r.Method == http.MethodPost:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.writeFrames(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case rest == "/exit" && r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		code, err := strconv.Atoi(strings.TrimSpace(string(body)))
		if err != nil {
			http.Error(w, "bad exit code", http.StatusBadRequest)
			return
		}
		s.once.Do(func() { s.exit <- code })
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// writeFrames writes frames of [fd uint8][len uint32 BE][bytes] to stdout
// and stderr.
func (s *server) writeFrames(b []byte) error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	for len(b) > 0 {
		if len(b) < 5 {
			return errors.New("short frame")
		}
		fd, n := b[0], binary.BigEndian.Uint32(b[1:5])
		b = b[5:]
		if uint64(n) > uint64(len(b)) {
			return errors.New("short frame")
		}
		w := os.Stderr
		if fd == 1 {
			w = os.Stdout
		}
		w.Write(b[:n])
		b = b[n:]
	}
	return nil
}

// stderrLine prints one line of the runner on stderr, in the order of the
// program's output.
func (s *server) stderrLine(format string, args ...any) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	fmt.Fprintf(os.Stderr, "wasmbrowser: "+format+"\n", args...)
}

func run(args []string) int {
	start := time.Now()
	o, err := parseArgs(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		return fail("%v", err)
	}
	logf := func(format string, args ...any) {
		if o.verbose {
			fmt.Fprintf(os.Stderr, "wasmbrowser: [%6.3fs] "+format+"\n", append([]any{time.Since(start).Seconds()}, args...)...)
		}
	}

	if _, err := os.Stat(o.prog); err != nil {
		return fail("program: %v", err)
	}
	root, err := goroot()
	if err != nil {
		return fail("%v", err)
	}
	wasmExec, err := os.ReadFile(filepath.Join(root, "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return fail("reading wasm_exec.js: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("listen: %v", err)
	}
	origin := "http://" + ln.Addr().String()
	base := "/" + rand.Text()

	argv := append([]string{o.prog}, o.args...)
	cfg, err := json.Marshal(map[string]any{
		"argv": argv,
		"env":  programEnv(origin),
		"base": base,
	})
	if err != nil {
		return fail("%v", err)
	}
	page := strings.ReplaceAll(pageHTML, "__BASE__", base)
	page = strings.Replace(page, "__CONFIG__", string(cfg), 1)

	srv := &server{
		base:     base,
		page:     []byte(page),
		wasmExec: wasmExec,
		prog:     o.prog,
		exit:     make(chan int, 1),
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()

	fmt.Fprintf(os.Stderr, "wasmbrowser: page origin %s (SOCKSHIM_PAGE_ORIGIN)\n", origin)

	var b *browserRun
	if o.browser == "firefox" {
		b, err = startFirefox(o, srv, origin+base+"/", logf)
	} else {
		b, err = startChromium(o, srv, origin+base+"/", logf)
	}
	if err != nil {
		return fail("%v", err)
	}
	defer b.stop()
	navigated := b.navigated
	startTimer := time.NewTimer(startupLimit)
	defer startTimer.Stop()

	deadline := time.NewTimer(o.timeout - time.Since(start))
	defer deadline.Stop()
	for {
		select {
		case code := <-srv.exit:
			logf("program exited with code %d", code)
			return code
		case err := <-navigated:
			if err != nil {
				return fail("loading the page: %v\n%s", err, b.output())
			}
			logf("page loaded")
			navigated = nil
		case <-startTimer.C:
			if navigated != nil {
				return fail("the page did not load within %v", startupLimit)
			}
		case why := <-b.lost:
			return fail("%s\n%s", why, b.output())
		case <-deadline.C:
			return timedOut(srv, o.timeout)
		}
	}
}

// timedOut reports that the time limit passed and returns exitTimeout. The
// Go runtime has no way to dump the goroutines on request in js/wasm; a test
// binary prints them itself when its own -test.timeout fires first, which is
// why the runner's limit is -test.timeout plus a margin.
func timedOut(srv *server, limit time.Duration) int {
	srv.stderrLine("FAIL: the program did not exit within the time limit of %v (runner flag -timeout or -test.timeout + %v)", limit, testMargin)
	return exitTimeout
}
