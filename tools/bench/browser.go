//go:build !js

package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sockshim/sockshim/internal/bidi"
)

// goBuild builds pkg for js/wasm (when wasm) or natively into out.
func goBuild(out, pkg string, wasm bool, flags ...string) error {
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, pkg)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if wasm {
		cmd.Env = append(cmd.Env, "GOOS=js", "GOARCH=wasm")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// bundleGzip builds the demo's wasm (./wasm) as `make wasm` does and
// returns its size compressed with gzip -9.
func bundleGzip(tmp string) (int64, error) {
	out := filepath.Join(tmp, "demo.wasm")
	if err := goBuild(out, "./wasm", true, "-trimpath", "-ldflags=-s"); err != nil {
		return 0, err
	}
	gz, err := exec.Command("gzip", "-9", "-c", out).Output()
	if err != nil {
		return 0, fmt.Errorf("gzip: %v", err)
	}
	return int64(len(gz)), nil
}

//go:embed page
var pageFS embed.FS

// browserBench is one headless Chromium (over a bare DevTools pipe, see
// chromium) with one page that runs every client of the Chromium table in
// turn: the Go wasm programs (in the page and in a dedicated Worker) and the
// wisp-js client from npm (its browser ES module, dist/wisp-client.mjs).
// The page is served cross-origin isolated (COOP + COEP), which gives
// performance.now() and Go's monotonic clock 5 µs resolution instead of
// 100 µs.
type browserBench struct {
	name   string        // "Chromium" or "Firefox"
	c      *chromium     // nil in Firefox
	ff     *bidi.Browser // nil in Chromium
	p      pageEval
	hs     *http.Server
	origin string

	mu    sync.Mutex
	marks map[string]cpuSnapshot
}

// pageEval evaluates a JavaScript expression in the bench page, awaiting a
// promise, and decodes its JSON value into out.
type pageEval interface {
	eval(ctx context.Context, expr string, out any) error
}

// firefoxPage is the bench page in Firefox, over WebDriver BiDi.
type firefoxPage struct{ b *bidi.Browser }

func (p firefoxPage) eval(ctx context.Context, expr string, out any) error {
	return p.b.Evaluate(ctx, expr, out)
}

// measuresCPU: the renderer's threads are sampled (Chromium only: the
// bench knows which of its threads is the page's and which the Worker's).
func (b *browserBench) measuresCPU() bool { return b.c != nil }

func (b *browserBench) rendererCPU() cpuSnapshot {
	if b.c == nil {
		return cpuSnapshot{}
	}
	return b.c.rendererCPU()
}

func (b *browserBench) recentLog(n int) string {
	if b.c == nil {
		return ""
	}
	return b.c.recentLog(n)
}

// startBrowserBench builds the wasm programs into tmp, serves the page and
// opens it in a fresh Chromium, or in Firefox when firefox is set.
func startBrowserBench(tmp, chromiumPath, interopDir string, network, firefox bool) (*browserBench, error) {
	wispClient := filepath.Join(interopDir, "node_modules", "@mercuryworkshop", "wisp-js", "dist", "wisp-client.mjs")
	if _, err := os.Stat(wispClient); err != nil {
		return nil, fmt.Errorf("the wisp-js client is not installed (run scripts/install-npm.sh): %v", err)
	}
	root, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT: %v", err)
	}
	files := map[string]string{
		"/wasm_exec.js":    filepath.Join(strings.TrimSpace(string(root)), "lib", "wasm", "wasm_exec.js"),
		"/wisp-client.mjs": wispClient,
		"/prog/bench.wasm": filepath.Join(tmp, "bench.wasm"),
		"/prog/dgram.wasm": filepath.Join(tmp, "dgram.wasm"),
		// The JS API (web/sockshim.js) with its Worker and the ./wasm build.
		"/web/sockshim.js":        "web/sockshim.js",
		"/web/sockshim-worker.js": "web/sockshim-worker.js",
		"/web/wasm_exec.js":       filepath.Join(strings.TrimSpace(string(root)), "lib", "wasm", "wasm_exec.js"),
		"/web/main.wasm":          filepath.Join(tmp, "jsapi.wasm"),
		"/bench.js":               "page/bench.js",
		"/worker.js":              "page/worker.js",
		"/":                       "page/index.html",
		"/favicon.ico":            "",
		"/wisp-client.map":        "",
		"/wasm_exec.js.map":       "",
	}
	if err := goBuild(files["/prog/bench.wasm"], "./tools/bench/wasm", true); err != nil {
		return nil, err
	}
	if err := goBuild(files["/prog/dgram.wasm"], "./tools/bench/wasmdgram", true); err != nil {
		return nil, err
	}
	if err := goBuild(files["/web/main.wasm"], "./wasm", true); err != nil {
		return nil, err
	}
	b := &browserBench{name: "Chromium", marks: map[string]cpuSnapshot{}}
	if firefox {
		b.name = "Firefox"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mark", func(w http.ResponseWriter, r *http.Request) {
		cpu := b.rendererCPU()
		b.mu.Lock()
		b.marks[r.URL.Query().Get("label")] = cpu
		b.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		path, ok := files[r.URL.Path]
		if !ok || path == "" {
			http.NotFound(w, r)
			return
		}
		var body []byte
		var err error
		if strings.HasPrefix(path, "page/") {
			body, err = pageFS.ReadFile(path)
		} else {
			body, err = os.ReadFile(path)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		switch filepath.Ext(path) {
		case ".js", ".mjs":
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		case ".wasm":
			h.Set("Content-Type", "application/wasm")
		default:
			h.Set("Content-Type", "text/html; charset=utf-8")
		}
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Embedder-Policy", "require-corp")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		w.Write(body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b.origin = "http://" + ln.Addr().String()
	b.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go b.hs.Serve(ln)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if firefox {
		if b.ff, err = bidi.Start(ctx, nil); err != nil {
			b.hs.Close()
			return nil, err
		}
		if err := b.ff.Navigate(ctx, b.origin+"/"); err != nil {
			b.close()
			return nil, err
		}
		b.p = firefoxPage{b.ff}
	} else {
		b.c, err = startChromium(chromiumPath)
		if err != nil {
			b.hs.Close()
			return nil, err
		}
		if b.p, err = b.c.openPage(ctx, b.origin+"/", network); err != nil {
			b.close()
			return nil, err
		}
	}
	for {
		var isolated *bool
		if err := b.p.eval(ctx, "globalThis.bench && globalThis.bench.crossOriginIsolated", &isolated); err == nil && isolated != nil {
			if !*isolated {
				b.close()
				return nil, errors.New("the bench page is not cross-origin isolated: its clocks would have 100 µs resolution")
			}
			return b, nil
		}
		select {
		case <-ctx.Done():
			log := b.recentLog(10)
			b.close()
			return nil, fmt.Errorf("the bench page did not load: %v\n%s", ctx.Err(), log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (b *browserBench) close() {
	if b.c != nil {
		b.c.close()
	}
	if b.ff != nil {
		b.ff.Close()
	}
	b.hs.Close()
}

// cpu is what the renderer spent between a row's start and end marks.
func (b *browserBench) cpu(label string) (threadCPU, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok1 := b.marks[label+":start"]
	e, ok2 := b.marks[label+":end"]
	if !ok1 || !ok2 {
		return threadCPU{}, fmt.Errorf("%s: no CPU marks", label)
	}
	return e.sub(s), nil
}

type goRun struct {
	Code   int    `json:"code"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

// runGo runs a Go wasm program of the page (prog: "bench" or "dgram") and
// returns its key=value output lines.
func (b *browserBench) runGo(prog string, args []string, env map[string]string, worker bool, d time.Duration) (map[string]string, goRun, error) {
	argv, _ := json.Marshal(append([]string{prog + ".wasm"}, args...))
	envJSON, _ := json.Marshal(env)
	expr := fmt.Sprintf("bench.runGo({prog: %q, argv: %s, env: %s, worker: %v})", "/prog/"+prog+".wasm", argv, envJSON, worker)
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	var r goRun
	if err := b.p.eval(ctx, expr, &r); err != nil {
		return nil, r, fmt.Errorf("%v\n%s", err, b.recentLog(10))
	}
	vals := map[string]string{}
	for _, line := range strings.Split(r.Stdout, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			vals[k] = v
		}
	}
	if r.Code != 0 {
		return vals, r, fmt.Errorf("%s exited %d: %s", prog, r.Code, lastLines(r.Stderr, 5))
	}
	if os.Getenv("SOCKSHIM_BENCH_VERBOSE") != "" && r.Stderr != "" {
		progress("%s stderr: %s", prog, strings.TrimSpace(r.Stderr))
	}
	return vals, r, nil
}

// bulkRow is one client's bulk echo in the browser.
type bulkRow struct {
	mibps float64
	cpu   threadCPU // per MiB echoed
}

func perMiB(cpu threadCPU, bytes float64) threadCPU {
	mib := bytes / (1 << 20)
	return threadCPU{
		main:   time.Duration(float64(cpu.main) / mib),
		worker: time.Duration(float64(cpu.worker) / mib),
		all:    time.Duration(float64(cpu.all) / mib),
	}
}

type workload struct {
	relayURL       string
	echoPort       uint16
	streams, size  int
	window         int
	d, rttDuration time.Duration
}

// goBulk runs the bulk echo with the Go wasm client.
func (b *browserBench) goBulk(w workload, worker bool, label string) (bulkRow, error) {
	vals, _, err := b.runGo("bench", []string{"bulk"}, map[string]string{
		"SOCKSHIM_RELAY_URL":      w.relayURL,
		"SOCKSHIM_ECHO_ADDR":      fmt.Sprintf("127.0.0.1:%d", w.echoPort),
		"SOCKSHIM_BENCH_DURATION": w.d.String(),
		"SOCKSHIM_BENCH_STREAMS":  strconv.Itoa(w.streams),
		"SOCKSHIM_BENCH_PAYLOAD":  strconv.Itoa(w.size),
		"SOCKSHIM_BENCH_WINDOW":   strconv.Itoa(w.window),
		"SOCKSHIM_BENCH_LABEL":    label,
	}, worker, w.d)
	if err != nil {
		return bulkRow{}, err
	}
	bytes, err1 := strconv.ParseFloat(vals["bulk_bytes"], 64)
	ms, err2 := strconv.ParseFloat(vals["bulk_ms"], 64)
	if err := errors.Join(err1, err2); err != nil {
		return bulkRow{}, fmt.Errorf("bench wasm printed no result: %v", err)
	}
	return b.bulkResult(label, bytes, ms)
}

func (b *browserBench) bulkResult(label string, bytes, ms float64) (bulkRow, error) {
	cpu, err := b.cpu(label)
	if err != nil {
		return bulkRow{}, err
	}
	return bulkRow{mibps: bytes / (1 << 20) / (ms / 1000), cpu: perMiB(cpu, bytes)}, nil
}

// wispBulk runs the bulk echo with the wisp-js client in the page.
func (b *browserBench) wispBulk(w workload, label string) (bulkRow, error) {
	expr := fmt.Sprintf("bench.wispBulk({url: %q, host: '127.0.0.1', port: %d, streams: %d, size: %d, window: %d, ms: %d, label: %q})",
		w.relayURL, w.echoPort, w.streams, w.size, w.window, w.d.Milliseconds(), label)
	ctx, cancel := context.WithTimeout(context.Background(), w.d+time.Minute)
	defer cancel()
	var r struct {
		Bytes float64 `json:"bytes"`
		MS    float64 `json:"ms"`
	}
	if err := b.p.eval(ctx, expr, &r); err != nil {
		return bulkRow{}, fmt.Errorf("wisp-js bulk: %v\n%s", err, b.recentLog(10))
	}
	return b.bulkResult(label, r.Bytes, r.MS)
}

type rttRow struct{ p50, p99, cpuUS float64 } // cpuUS: the client's thread (main or Worker), µs per round trip

func (b *browserBench) goRTT(w workload, worker bool, label string) (rttRow, error) {
	vals, _, err := b.runGo("bench", []string{"rtt"}, map[string]string{
		"SOCKSHIM_RELAY_URL":      w.relayURL,
		"SOCKSHIM_ECHO_ADDR":      fmt.Sprintf("127.0.0.1:%d", w.echoPort),
		"SOCKSHIM_BENCH_DURATION": w.rttDuration.String(),
		"SOCKSHIM_BENCH_PAYLOAD":  "64",
		"SOCKSHIM_BENCH_LABEL":    label,
	}, worker, w.rttDuration)
	if err != nil {
		return rttRow{}, err
	}
	p50, err1 := strconv.ParseFloat(vals["rtt_p50_us"], 64)
	p99, err2 := strconv.ParseFloat(vals["rtt_p99_us"], 64)
	n, err3 := strconv.ParseFloat(vals["rtt_n"], 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return rttRow{}, fmt.Errorf("bench wasm printed no result: %v", err)
	}
	cpu, err := b.cpu(label)
	if err != nil {
		return rttRow{}, err
	}
	t := cpu.main
	if worker {
		t = cpu.worker
	}
	return rttRow{p50, p99, float64(t) / float64(time.Microsecond) / n}, nil
}

func (b *browserBench) wispRTT(w workload, label string) (rttRow, error) {
	expr := fmt.Sprintf("bench.wispRTT({url: %q, host: '127.0.0.1', port: %d, size: 64, warm: 500, ms: %d, label: %q})",
		w.relayURL, w.echoPort, w.rttDuration.Milliseconds(), label)
	ctx, cancel := context.WithTimeout(context.Background(), w.rttDuration+time.Minute)
	defer cancel()
	var r struct{ N, P50, P99 float64 }
	if err := b.p.eval(ctx, expr, &r); err != nil {
		return rttRow{}, fmt.Errorf("wisp-js RTT: %v\n%s", err, b.recentLog(10))
	}
	cpu, err := b.cpu(label)
	if err != nil {
		return rttRow{}, err
	}
	return rttRow{r.P50, r.P99, float64(cpu.main) / float64(time.Microsecond) / r.N}, nil
}

// jsapiBulk runs the bulk echo with the JS API (web/sockshim.js) in the
// page, its wasm in a dedicated Worker (worker) or in the page.
func (b *browserBench) jsapiBulk(w workload, worker bool, label string) (bulkRow, error) {
	expr := fmt.Sprintf("bench.jsapiBulk({relay: %q, host: '127.0.0.1', port: %d, streams: %d, size: %d, window: %d, ms: %d, label: %q, worker: %t})",
		w.relayURL, w.echoPort, w.streams, w.size, w.window, w.d.Milliseconds(), label, worker)
	ctx, cancel := context.WithTimeout(context.Background(), w.d+time.Minute)
	defer cancel()
	var r struct {
		Bytes float64 `json:"bytes"`
		MS    float64 `json:"ms"`
	}
	if err := b.p.eval(ctx, expr, &r); err != nil {
		return bulkRow{}, fmt.Errorf("JS API bulk: %v\n%s", err, b.recentLog(10))
	}
	return b.bulkResult(label, r.Bytes, r.MS)
}

func (b *browserBench) jsapiRTT(w workload, worker bool, label string) (rttRow, error) {
	expr := fmt.Sprintf("bench.jsapiRTT({relay: %q, host: '127.0.0.1', port: %d, size: 64, warm: 500, ms: %d, label: %q, worker: %t})",
		w.relayURL, w.echoPort, w.rttDuration.Milliseconds(), label, worker)
	ctx, cancel := context.WithTimeout(context.Background(), w.rttDuration+time.Minute)
	defer cancel()
	var r struct{ P50, P99 float64 }
	if err := b.p.eval(ctx, expr, &r); err != nil {
		return rttRow{}, fmt.Errorf("JS API RTT: %v\n%s", err, b.recentLog(10))
	}
	return rttRow{p50: r.P50, p99: r.P99}, nil
}

// profile runs V8's profiler on the page around one row when -browser-profile
// is set (not for the Worker column, whose thread the page's profiler does
// not see) and prints the top functions; the returned func stops it.
func (b *browserBench) profile(c *config, col int, label string) func() {
	cp, ok := b.p.(*page) // V8's profiler over CDP: Chromium only
	if c.browserProfile == "" || col == bcolGoWorker || col == bcolJSAPI || !ok {
		return func() {}
	}
	ctx := context.Background()
	if err := cp.startProfile(ctx); err != nil {
		progress("profiler: %v", err)
		return func() {}
	}
	return func() {
		path := filepath.Join(c.browserProfile, label+".cpuprofile")
		top, err := cp.stopProfile(ctx, path, 30)
		if err != nil {
			progress("profiler: %v", err)
			return
		}
		progress("V8 profile of %s (%s), self time:\n%s", label, path, top)
	}
}

// The Chromium table: one column per client, all in one browser run
// through the same relay process and echo server.
const (
	bcolGo = iota
	bcolGoWorker
	bcolWispJS
	bcolJSAPI
	bcolJSAPIPage
	nBCols
)

const (
	browBulk = iota
	browMainCPU
	browWorkerCPU
	browAllCPU
	browRTT50
	browRTT99
	browRTTCPU
	browDgram
	nBRows
)

var bcolNames = [nBCols]string{"Go wasm (page)", "Go wasm (Worker)", "wisp-js 0.5.0 client (page)", "JS API (Worker)", "JS API (page)"}

type browserTable struct {
	c       *config
	browser string // "Chromium" or "Firefox"
	cells   [nBRows][nBCols]cell
	note    string
}

// runBrowserTable measures every client of the Chromium table in one
// browser: rounds rounds, the clients interleaved in each, median shown.
func runBrowserTable(tmp string, c *config, relay *server, echoPort uint16, firefox bool) *browserTable {
	relayURL := relay.url
	t := &browserTable{c: c, browser: "Chromium"}
	if firefox {
		t.browser = "Firefox"
	}
	for r := range t.cells {
		for col := range t.cells[r] {
			t.cells[r][col] = cell{v: nan}
		}
	}
	fail := func(err error) *browserTable {
		progress("%s: %v", t.browser, err)
		for r := range t.cells {
			for col := range t.cells[r] {
				t.cells[r][col] = cell{text: "error: " + firstLine(err.Error())}
			}
		}
		return t
	}
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	b, err := startBrowserBench(tmp, path, c.interopDir, c.browserNetwork, firefox)
	if err != nil {
		return fail(err)
	}
	defer b.close()
	if firefox {
		var ua string
		b.p.eval(context.Background(), "navigator.userAgent", &ua)
		t.note = ua[strings.LastIndex(ua, " ")+1:]
	} else {
		var version struct {
			Product string `json:"product"`
		}
		if res, err := b.c.call(context.Background(), "", "Browser.getVersion", nil); err == nil {
			json.Unmarshal(res, &version)
		}
		t.note = version.Product
	}
	w := workload{relayURL: relayURL, echoPort: echoPort, streams: c.streams, size: c.payload,
		window: c.browserWindow, d: c.browserDuration, rttDuration: c.rttDuration}

	type sample struct{ bulk, mainCPU, workerCPU, allCPU, rtt50, rtt99, rttCPU []float64 }
	var s [nBCols]sample
	errs := [nBCols]error{}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for round := range c.browserRounds {
		for col := range nBCols {
			if errs[col] != nil {
				continue
			}
			label := fmt.Sprintf("bulk-%d-%d", col, round)
			progress("%s, round %d: %s bulk echo, %d streams x %d KiB, window %d, %v", t.browser, round+1, bcolNames[col], w.streams, w.size>>10, w.window, w.d)
			var r bulkRow
			stop := b.profile(c, col, label)
			switch col {
			case bcolWispJS:
				r, err = b.wispBulk(w, label)
			case bcolJSAPI, bcolJSAPIPage:
				r, err = b.jsapiBulk(w, col == bcolJSAPI, label)
			default:
				r, err = b.goBulk(w, col == bcolGoWorker, label)
			}
			stop()
			if err != nil {
				errs[col] = err
				progress("%s, %s bulk: %v", t.browser, bcolNames[col], err)
				continue
			}
			s[col].bulk = append(s[col].bulk, r.mibps)
			s[col].mainCPU = append(s[col].mainCPU, ms(r.cpu.main))
			s[col].workerCPU = append(s[col].workerCPU, ms(r.cpu.worker))
			s[col].allCPU = append(s[col].allCPU, ms(r.cpu.all))
		}
		for col := range nBCols {
			if errs[col] != nil {
				continue
			}
			label := fmt.Sprintf("rtt-%d-%d", col, round)
			progress("%s, round %d: %s 64-byte round trips, %v", t.browser, round+1, bcolNames[col], w.rttDuration)
			var r rttRow
			stop := b.profile(c, col, label)
			switch col {
			case bcolWispJS:
				r, err = b.wispRTT(w, label)
			case bcolJSAPI, bcolJSAPIPage:
				r, err = b.jsapiRTT(w, col == bcolJSAPI, label)
			default:
				r, err = b.goRTT(w, col == bcolGoWorker, label)
			}
			stop()
			if err != nil {
				errs[col] = err
				progress("%s, %s RTT: %v", t.browser, bcolNames[col], err)
				continue
			}
			s[col].rtt50 = append(s[col].rtt50, r.p50)
			s[col].rtt99 = append(s[col].rtt99, r.p99)
			s[col].rttCPU = append(s[col].rttCPU, r.cpuUS)
		}
	}
	for col := range nBCols {
		if errs[col] != nil {
			for r := range nBRows {
				t.cells[r][col] = cell{text: "error: " + firstLine(errs[col].Error())}
			}
			continue
		}
		set := func(row int, v []float64) { t.cells[row][col] = cell{v: median(v)} }
		set(browBulk, s[col].bulk)
		set(browMainCPU, s[col].mainCPU)
		set(browWorkerCPU, s[col].workerCPU)
		set(browAllCPU, s[col].allCPU)
		set(browRTT50, s[col].rtt50)
		set(browRTT99, s[col].rtt99)
		set(browRTTCPU, s[col].rttCPU)
		if col != bcolGoWorker && col != bcolJSAPI {
			t.cells[browWorkerCPU][col] = cell{text: "-"}
		}
	}
	t.cells[browRTTCPU][bcolJSAPI] = cell{text: "- (not measured)"}
	t.cells[browRTTCPU][bcolJSAPIPage] = cell{text: "- (not measured)"}
	if !b.measuresCPU() {
		for _, row := range []int{browMainCPU, browWorkerCPU, browAllCPU, browRTTCPU} {
			for col := range nBCols {
				if errs[col] == nil {
					t.cells[row][col] = cell{text: "- (threads not sampled in " + t.browser + ")"}
				}
			}
		}
	}
	t.cells[browDgram][bcolGoWorker] = cell{text: "- (no RTCPeerConnection in a Worker)"}
	t.cells[browDgram][bcolWispJS] = cell{text: "-"}
	t.cells[browDgram][bcolJSAPI] = cell{text: "- (no RTCPeerConnection in a Worker)"}
	t.cells[browDgram][bcolJSAPIPage] = cell{text: "- (not measured)"}
	if firefox {
		// Firefox offers no loopback ICE candidate (README, Browser
		// support), so its data channel cannot reach a relay on 127.0.0.1.
		t.cells[browDgram][bcolGo] = cell{text: "- (no loopback ICE candidate in Firefox)"}
		return t
	}
	progress("Chromium: DatagramSocket echo over a WebRTC data channel, %d B, window %d", c.dgramPayload, c.dgramWindow)
	t.cells[browDgram][bcolGo] = b.dgramRow(c, relay)
	return t
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return nan
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (t *browserTable) value(row, col int) (float64, bool) {
	c := t.cells[row][col]
	return c.v, c.text == "" && !math.IsNaN(c.v)
}

// target returns a row's target from issue 17 and whether the Go wasm
// client (in the page) meets it.
func (t *browserTable) target(row int) (string, string) {
	g, gok := t.value(row, bcolGo)
	if row == browDgram { // its cell carries loss and the channel's share as text
		g = t.cells[row][bcolGo].v
		gok = !math.IsNaN(g)
	}
	w, wok := t.value(row, bcolWispJS)
	switch row {
	case browBulk:
		if !gok || !wok {
			return ">= 1.5x wisp-js", "n/a"
		}
		x := g / w
		if x >= 1.5 {
			return ">= 1.5x wisp-js", fmt.Sprintf("yes (%.2fx)", x)
		}
		return ">= 1.5x wisp-js", fmt.Sprintf("NO: %.2fx wisp-js", x)
	case browRTT50:
		if !gok || !wok {
			return "<= wisp-js", "n/a"
		}
		if g <= w {
			return "<= wisp-js", fmt.Sprintf("yes (%.0f µs less)", w-g)
		}
		return "<= wisp-js", fmt.Sprintf("NO: %.0f µs more", g-w)
	case browDgram:
		if !gok {
			return ">= 20000", "n/a"
		}
		if g >= 20000 {
			return ">= 20000", "yes"
		}
		return ">= 20000", fmt.Sprintf("NO: %.0f%% short", (1-g/20000)*100)
	}
	return "", ""
}

func (t *browserTable) render() string {
	names := [nBRows]string{
		fmt.Sprintf("bulk echo MiB/s (%d streams, %d KiB payloads, window %d, %v)", t.c.streams, t.c.payload>>10, t.c.browserWindow, t.c.browserDuration),
		"  page main thread CPU ms per MiB",
		"  Worker thread CPU ms per MiB",
		"  renderer CPU ms per MiB (all its threads)",
		fmt.Sprintf("RTT p50 µs (64 B, one stream, %v)", t.c.rttDuration),
		"RTT p99 µs",
		"  client thread CPU µs per round trip",
		fmt.Sprintf("DatagramSocket datagrams/s (data channel, %d B)", t.c.dgramPayload),
	}
	format := func(row int, v float64) string {
		switch row {
		case browMainCPU, browWorkerCPU, browAllCPU:
			return fmt.Sprintf("%.2f", v)
		}
		return fmt.Sprintf("%.0f", v)
	}
	var sb strings.Builder
	rounds := ""
	if t.c.browserRounds > 1 {
		rounds = fmt.Sprintf(", median of %d rounds", t.c.browserRounds)
	}
	how := "no Network domain"
	if t.c.browserNetwork {
		how = "WITH the Network domain enabled (-browser-cdp-network): DevTools copies every frame"
	}
	if t.browser == "Firefox" {
		fmt.Fprintf(&sb, "\nheadless Firefox %s over WebDriver BiDi, one run, through our relay%s\n\n", t.note, rounds)
	} else {
		fmt.Fprintf(&sb, "\nheadless %s over a bare DevTools pipe (%s), one run, through our relay%s\n\n", t.note, how, rounds)
	}
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.Debug)
	fmt.Fprintf(tw, "metric\t%s\ttarget (Go wasm, page)\tmet?\n", strings.Join(bcolNames[:], "\t"))
	for row := range nBRows {
		fmt.Fprintf(tw, "%s", names[row])
		for col := range nBCols {
			fmt.Fprintf(tw, "\t%s", t.cells[row][col].show(row, format))
		}
		target, met := t.target(row)
		fmt.Fprintf(tw, "\t%s\t%s\n", target, met)
	}
	tw.Flush()
	sb.WriteString(t.jsapiTargets())
	return sb.String()
}

// jsapiTargets: issue 16's targets for the JS API against the wisp-js
// client of the same run.
func (t *browserTable) jsapiTargets() string {
	j, jok := t.value(browBulk, bcolJSAPI)
	w, wok := t.value(browBulk, bcolWispJS)
	j99, j99ok := t.value(browRTT99, bcolJSAPI)
	w99, w99ok := t.value(browRTT99, bcolWispJS)
	bulk, p99 := "n/a", "n/a"
	if jok && wok {
		bulk = fmt.Sprintf("%.2fx wisp-js: %s", j/w, map[bool]string{true: "yes", false: "NO"}[j/w >= 1.2])
	}
	if j99ok && w99ok {
		p99 = fmt.Sprintf("%.0f µs vs %.0f µs: %s", j99, w99, map[bool]string{true: "yes", false: "NO"}[j99 <= w99])
	}
	return fmt.Sprintf("JS API (Worker) targets: bulk >= 1.2x wisp-js (%s); RTT p99 <= wisp-js (%s)\n", bulk, p99)
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
