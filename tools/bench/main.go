//go:build !js

// Command bench is `make bench`: it measures sockshim's relay against
// direct loopback TCP and against the wisp-js npm server, with the same
// client, in one run, and prints one table with the targets of issue 7.
//
// Run it from the repository root:
//
//	go build -o bin/relay ./cmd/relay && go run ./tools/bench -relay bin/relay
//
// Every server runs on 127.0.0.1, every destination is a TCP (for the
// DatagramSocket row, UDP) echo server in this process. The relay and the
// wisp-js server are child processes, so their CPU time and RSS come from
// /proc/<pid>. Ratios are measured in the same run, back to back, because
// the machine may be shared. A second table compares, in one headless
// Chromium driven over a bare DevTools pipe (see chromium), the Go wasm
// client (in the page and in a dedicated Worker) with the wisp-js client
// from npm, both through the relay: bulk echo, the renderer's CPU per MiB,
// round trips, and the DatagramSocket over a data channel. -browser-only
// runs just that table.
//
// Profiling: -cpuprofile and -memprofile run the relay library in this
// process instead, run only the bulk echo against it, and write the
// profiles (go tool pprof -http=: bin/... cpu.out).
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"
)

var nan = math.NaN()

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	duration, rttDuration, opensDuration, browserDuration time.Duration
	streams, payload, idleStreams, openWorkers            int
	dgramPayload, dgramWindow                             int
	browserWindow, browserRounds                          int
	resumeRounds                                          int
	resumeDuration                                        time.Duration
	resumeOnly                                            bool
	relayBin, interopDir, wranglerBin, browserProfile     string
	browser, browserOnly, browserNetwork, firefox         bool
	profileLoad                                           string
	profileResume                                         string
}

func run() error {
	var c config
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each bulk echo run")
	flag.DurationVar(&c.rttDuration, "rtt-duration", 3*time.Second, "length of each round-trip run")
	flag.DurationVar(&c.opensDuration, "opens-duration", 2*time.Second, "length of each stream-open run")
	flag.DurationVar(&c.browserDuration, "browser-duration", 5*time.Second, "length of each browser run (bulk echo, datagram echo)")
	flag.IntVar(&c.streams, "streams", 10, "streams of the bulk echo (one session)")
	flag.IntVar(&c.resumeRounds, "resume-rounds", 5, "rounds of the resume on/off bulk echo (each round runs both, alternating; medians shown); 0: skip it")
	flag.DurationVar(&c.resumeDuration, "resume-duration", 5*time.Second, "length of each resume on/off bulk echo run")
	flag.IntVar(&c.payload, "payload", 50<<10, "payload size of the bulk echo, bytes")
	flag.IntVar(&c.idleStreams, "idle-streams", 10000, "streams held open for the memory row")
	flag.IntVar(&c.openWorkers, "open-workers", 32, "concurrent opens in the stream-open run")
	flag.IntVar(&c.dgramPayload, "dgram-payload", 512, "datagram size of the browser DatagramSocket echo, bytes")
	flag.IntVar(&c.dgramWindow, "dgram-window", 32, "datagrams outstanding in the browser DatagramSocket echo")
	flag.StringVar(&c.relayBin, "relay", "bin/relay", "relay binary (CGO_ENABLED=0 go build -o bin/relay ./cmd/relay)")
	flag.StringVar(&c.interopDir, "interop", "test/interop", "directory with the wisp-js npm install (scripts/install-npm.sh)")
	flag.StringVar(&c.wranglerBin, "wrangler", "test/edge/node_modules/.bin/wrangler", "wrangler for the edge table (scripts/install-wrangler.sh); empty: skip it (edge.go)")
	flag.IntVar(&c.browserWindow, "browser-window", 4, "payloads in flight per stream in the browser bulk echo (every client)")
	flag.IntVar(&c.browserRounds, "browser-rounds", 1, "rounds of the Chromium table (clients interleaved in each; medians shown)")
	flag.BoolVar(&c.browser, "browser", true, "run the headless Chromium table (Chromium is $CHROMIUM or /usr/bin/chromium)")
	flag.BoolVar(&c.firefox, "firefox", true, "also run the browser table in headless Firefox ($FIREFOX or /usr/bin/firefox-esr), over WebDriver BiDi")
	flag.BoolVar(&c.resumeOnly, "resume-only", false, "run only the session resume on/off table (resume.go) against the relay binary")
	flag.BoolVar(&c.browserOnly, "browser-only", false, "run only the headless Chromium table (and the relay it uses)")
	flag.BoolVar(&c.browserNetwork, "browser-cdp-network", false, "enable the CDP Network domain on the bench page, only to show what chromedp-style drivers cost")
	flag.StringVar(&c.browserProfile, "browser-profile", "", "write a V8 CPU profile of each page row into this directory and print its top functions (slows the page down)")
	cpuProfile := flag.String("cpuprofile", "", "profile the in-process relay under the bulk echo: CPU profile file")
	memProfile := flag.String("memprofile", "", "with the in-process relay: allocation profile file")
	flag.StringVar(&c.profileLoad, "profile-workload", "bulk", "what runs while profiling: bulk, rtt or opens")
	flag.StringVar(&c.profileResume, "profile-resume", "", "with -cpuprofile: the client's session resume, on or off (default: on when the relay offers it)")
	flag.Parse()
	if c.browserOnly && !c.browser {
		return fmt.Errorf("-browser-only and -browser=false exclude each other")
	}

	nofile := raiseNoFile()
	echo, err := startEcho()
	if err != nil {
		return err
	}
	defer echo.close()

	if *cpuProfile != "" || *memProfile != "" {
		return profile(&c, echo, *cpuProfile, *memProfile)
	}
	if c.idleStreams+64 > int(nofile) {
		fmt.Fprintf(os.Stderr, "bench: RLIMIT_NOFILE hard limit %d is too low for %d idle streams; using %d\n", nofile, c.idleStreams, int(nofile)-200)
		c.idleStreams = int(nofile) - 200
	}

	tmp, err := os.MkdirTemp("", "sockshim-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	configPath := filepath.Join(tmp, "relay.json")
	if err := os.WriteFile(configPath, []byte(benchConfig), 0o600); err != nil {
		return err
	}
	if c.resumeOnly {
		srv, err := startRelayProcess(c.relayBin, configPath)
		if err != nil {
			return err
		}
		defer srv.stop()
		fmt.Println(runResumeTable(&c, srv, echo)) // resume.go
		return nil
	}
	t := newTable(&c)
	direct := &target{name: "direct TCP", echo: echo}
	var relaySrv *server

	// Each server is measured in a fresh process; memory first, while its
	// heap is still small.
	measure := func(col int, start func() (*server, error)) *server {
		srv, err := start()
		if err != nil {
			t.failAll(col, err)
			return nil
		}
		tg := &target{name: srv.name, srv: srv, echo: echo}
		progress("%s: %d idle streams", srv.name, c.idleStreams)
		v, err := idle(tg, c.idleStreams, 64)
		t.set(rowIdle, col, v, err)
		srv.stop()
		srv, err = start()
		if err != nil {
			t.failAll(col, err)
			return nil
		}
		tg.srv = srv
		t.measureCommon(col, tg)
		return srv
	}
	if c.browserOnly {
		s, err := startRelayProcess(c.relayBin, configPath)
		if err != nil {
			return err
		}
		relaySrv = s
		defer relaySrv.stop()
	} else {
		progress("direct TCP")
		t.measureCommon(colDirect, direct)
		t.cells[rowIdle][colDirect] = cell{text: "-"}
		relaySrv = measure(colRelay, func() (*server, error) { return startRelayProcess(c.relayBin, configPath) })
		if relaySrv != nil {
			defer relaySrv.stop()
		}
		if s := measure(colWispJS, func() (*server, error) { return startWispJS(c.interopDir) }); s != nil {
			s.stop()
		}
		t.cells[rowBundle][colDirect] = cell{text: "-"}
		t.cells[rowBundle][colWispJS] = cell{text: "-"}
		progress("wasm bundle")
		size, err := bundleGzip(tmp)
		t.set(rowBundle, colRelay, float64(size), err)
		fmt.Println(t.render())
		if relaySrv != nil && c.resumeRounds > 0 {
			fmt.Println(runResumeTable(&c, relaySrv, echo)) // resume.go
		}
		if c.wranglerBin != "" && relaySrv != nil {
			fmt.Println(runEdgeTable(tmp, &c, relaySrv, echo))
		}
	}
	switch {
	case !c.browser:
	case relaySrv == nil:
		fmt.Println("\nChromium table: not measured (no relay)")
	default:
		fmt.Println(runBrowserTable(tmp, &c, relaySrv, echo.port(), false).render())
		if c.firefox {
			fmt.Println(runBrowserTable(tmp, &c, relaySrv, echo.port(), true).render())
		}
	}
	return nil
}

// profile runs the bulk echo against the relay in this process and writes
// CPU and allocation profiles of the whole process (client, relay and echo
// server; filter with pprof's -focus=relay).
func profile(c *config, echo *echoServer, cpuOut, memOut string) error {
	srv, err := startRelayInProcess()
	if err != nil {
		return err
	}
	defer srv.stop()
	tg := &target{name: srv.name, srv: srv, echo: echo, resume: c.profileResume}
	if memOut != "" {
		runtime.MemProfileRate = 64 << 10
	}
	if cpuOut != "" {
		f, err := os.Create(cpuOut)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	var summary string
	switch c.profileLoad {
	case "bulk":
		var res bulkResult
		res, err = bulk(tg, c.streams, c.payload, c.duration)
		summary = fmt.Sprintf("bulk echo: %.1f MiB/s", res.mibps)
	case "rtt":
		var p50, p99 time.Duration
		p50, p99, err = rtt(tg, 64, c.duration)
		summary = fmt.Sprintf("RTT p50 %v, p99 %v", p50, p99)
	case "opens":
		var rate float64
		rate, err = opens(tg, c.openWorkers, c.duration)
		summary = fmt.Sprintf("%.0f opens/s", rate)
	default:
		err = fmt.Errorf("-profile-workload %q: want bulk, rtt or opens", c.profileLoad)
	}
	if cpuOut != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	fmt.Printf("in-process relay, %s (client, relay and echo server share the process)\n", summary)
	if memOut != "" {
		f, err := os.Create(memOut)
		if err != nil {
			return err
		}
		defer f.Close()
		return pprof.Lookup("allocs").WriteTo(f, 0)
	}
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

const (
	colDirect = iota
	colRelay
	colWispJS
	nCols
)

const (
	rowBulk = iota
	rowRatio
	rowCPU
	rowRTT50
	rowRTT99
	rowOpens
	rowIdle
	rowBundle
	nRows
)

type cell struct {
	v    float64
	text string // shown instead of v when set
}

// show is the cell as the table prints it: its text if it has one, else
// its value formatted as the row wants, or n/a.
func (c cell) show(row int, format func(row int, v float64) string) string {
	switch {
	case c.text != "":
		return c.text
	case math.IsNaN(c.v):
		return "n/a"
	}
	return format(row, c.v)
}

type table struct {
	c     *config
	cells [nRows][nCols]cell
}

func newTable(c *config) *table {
	t := &table{c: c}
	for r := range t.cells {
		for col := range t.cells[r] {
			t.cells[r][col] = cell{v: nan}
		}
	}
	return t
}

func (t *table) set(row, col int, v float64, err error) {
	if err != nil {
		progress("%s, %s: %v", rowNames(t.c)[row], colNames[col], err)
		t.cells[row][col] = cell{text: "error: " + firstLine(err.Error())}
		return
	}
	t.cells[row][col] = cell{v: v}
}

func (t *table) failAll(col int, err error) {
	for r := range nRows {
		t.set(r, col, 0, err)
	}
}

// measureCommon fills the rows every column has.
func (t *table) measureCommon(col int, tg *target) {
	progress("%s: bulk echo, %d streams x %d KiB, %v", tg.name, t.c.streams, t.c.payload>>10, t.c.duration)
	b, err := bulk(tg, t.c.streams, t.c.payload, t.c.duration)
	t.set(rowBulk, col, b.mibps, err)
	if col == colDirect {
		if err == nil && !math.IsNaN(b.cpuPerGiB) {
			t.cells[rowCPU][col] = cell{text: fmt.Sprintf("%.2f (client+echo)", b.cpuPerGiB)}
		} else {
			t.cells[rowCPU][col] = cell{text: "-"}
		}
	} else {
		t.set(rowCPU, col, b.cpuPerGiB, err)
	}
	progress("%s: 64-byte round trips, %v", tg.name, t.c.rttDuration)
	p50, p99, err := rtt(tg, 64, t.c.rttDuration)
	t.set(rowRTT50, col, float64(p50)/float64(time.Microsecond), err)
	t.set(rowRTT99, col, float64(p99)/float64(time.Microsecond), err)
	progress("%s: stream opens, %v", tg.name, t.c.opensDuration)
	o, err := opens(tg, t.c.openWorkers, t.c.opensDuration)
	t.set(rowOpens, col, o, err)
}

var colNames = [nCols]string{"direct TCP", "our relay", "wisp-js 0.5.0"}

func rowNames(c *config) [nRows]string {
	return [nRows]string{
		fmt.Sprintf("bulk echo MiB/s (%d streams, %d KiB payloads, %v)", c.streams, c.payload>>10, c.duration),
		"  ratio to direct TCP",
		"  server CPU s per GiB echoed",
		"RTT p50 µs (64 B, one stream)",
		"RTT p99 µs",
		"stream opens/s (one session)",
		fmt.Sprintf("server RSS KiB per idle stream (%d)", c.idleStreams),
		"wasm demo bundle, gzip -9, MB",
	}
}

func (t *table) value(row, col int) (float64, bool) {
	c := t.cells[row][col]
	return c.v, c.text == "" && !math.IsNaN(c.v)
}

func (t *table) render() string {
	// Ratios are derived from the measured rows.
	if d, ok := t.value(rowBulk, colDirect); ok {
		for col := range nCols {
			if v, ok := t.value(rowBulk, col); ok {
				t.cells[rowRatio][col] = cell{v: v / d}
			}
		}
	}
	format := func(row int, v float64) string {
		switch row {
		case rowRatio:
			return fmt.Sprintf("%.2fx", v)
		case rowCPU:
			return fmt.Sprintf("%.2f", v)
		case rowBundle:
			return fmt.Sprintf("%.2f", v/1e6)
		case rowIdle:
			return fmt.Sprintf("%.1f", v/1024)
		default:
			return fmt.Sprintf("%.0f", v)
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nsockshim bench, %s/%s, %d CPUs (shared machine: compare ratios within one run), %s\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.Debug)
	fmt.Fprintf(tw, "metric\t%s\t%s\t%s\ttarget\tmet?\n", colNames[0], colNames[1], colNames[2])
	names := rowNames(t.c)
	for row := range nRows {
		fmt.Fprintf(tw, "%s", names[row])
		for col := range nCols {
			fmt.Fprintf(tw, "\t%s", t.cells[row][col].show(row, format))
		}
		target, met := t.target(row)
		fmt.Fprintf(tw, "\t%s\t%s\n", target, met)
	}
	tw.Flush()
	return sb.String()
}

// target returns a row's target from issue 7 and whether our relay meets
// it, with by how much it misses.
func (t *table) target(row int) (string, string) {
	relay, ok := t.value(row, colRelay)
	verdict := func(good bool, miss string) string {
		if !ok {
			return "n/a"
		}
		if good {
			return "yes"
		}
		return "NO: " + miss
	}
	switch row {
	case rowBulk:
		w, wok := t.value(rowBulk, colWispJS)
		if !wok {
			return ">= 2x wisp-js", "n/a"
		}
		x := relay / w
		return ">= 2x wisp-js", verdict(x >= 2, fmt.Sprintf("%.2fx wisp-js, %.0f%% short", x, (1-x/2)*100)) + ifOK(ok && x >= 2, fmt.Sprintf(" (%.2fx)", x))
	case rowCPU:
		return "<= 0.8", verdict(relay <= 0.8, fmt.Sprintf("%.2f, %.0f%% over", relay, (relay/0.8-1)*100))
	case rowRTT50:
		d, dok := t.value(rowRTT50, colDirect)
		if !dok {
			return "<= direct + 20", "n/a"
		}
		over := relay - d
		return fmt.Sprintf("<= direct + 20 (%.0f)", d+20), verdict(over <= 20, fmt.Sprintf("direct + %.0f, %.0f µs over", over, over-20)) + ifOK(ok && over <= 20, fmt.Sprintf(" (direct + %.0f)", over))
	case rowOpens:
		return ">= 20000", verdict(relay >= 20000, fmt.Sprintf("%.0f%% short", (1-relay/20000)*100))
	case rowIdle:
		kib := relay / 1024
		return "<= 16", verdict(kib <= 16, fmt.Sprintf("%.1f KiB, %.0f%% over", kib, (kib/16-1)*100))
	case rowBundle:
		mb := relay / 1e6
		return "<= 2.5", verdict(mb <= 2.5, fmt.Sprintf("%.2f MB, %.0f%% over", mb, (mb/2.5-1)*100))
	}
	return "", ""
}

func ifOK(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}
