//go:build !js

package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sockshim/sockshim/internal/wranglerdev"
)

// edgeStreams is the Workers cap of simultaneous outbound connections per
// session, so both columns of the edge table run that many streams.
const edgeStreams = 6

// runEdgeTable measures the edge relay (cmd/edge) in workerd beside our
// native relay process: the same client, the same echo server, bulk echo
// on 6 streams (the Workers cap), round trips and opens with 6 workers.
// workerd runs locally, so this measures the relay's wasm build and
// workerd's WebSocket and socket paths, not Cloudflare's network.
func runEdgeTable(tmp string, c *config, relay *server, echo *echoServer) string {
	edge, size, err := startEdge(tmp, c.wranglerBin)
	if err != nil {
		return "\nEdge table: not measured: " + firstLine(err.Error()) + "\n"
	}
	defer edge.stop()
	cols := []*server{relay, edge}
	var rows [6][2]string
	for i, srv := range cols {
		tg := &target{name: srv.name, srv: srv, echo: echo}
		progress("%s: bulk echo, %d streams x %d KiB, %v", srv.name, edgeStreams, c.payload>>10, c.duration)
		b, err := bulk(tg, edgeStreams, c.payload, c.duration)
		rows[0][i] = cellText(err, "%.0f", b.mibps)
		rows[1][i] = cellText(err, "%.2f", b.cpuPerGiB)
		progress("%s: 64-byte round trips, %v", srv.name, c.rttDuration)
		p50, p99, err := rtt(tg, 64, c.rttDuration)
		rows[2][i] = cellText(err, "%.0f", float64(p50)/float64(time.Microsecond))
		rows[3][i] = cellText(err, "%.0f", float64(p99)/float64(time.Microsecond))
		progress("%s: stream opens, %v", srv.name, c.opensDuration)
		o, err := opens(tg, edgeStreams, c.opensDuration)
		rows[4][i] = cellText(err, "%.0f", o)
	}
	rows[5] = [2]string{"-", fmt.Sprintf("%.2f (free plan 3, paid 10)", float64(size)/1e6)}
	names := []string{
		fmt.Sprintf("bulk echo MiB/s (%d streams, %d KiB payloads, %v)", edgeStreams, c.payload>>10, c.duration),
		"  server CPU s per GiB echoed",
		"RTT p50 µs (64 B, one stream)",
		"RTT p99 µs",
		fmt.Sprintf("stream opens/s (one session, %d workers)", edgeStreams),
		"Worker app.wasm, gzip -9, MB",
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nedge relay (cmd/edge in workerd, wrangler dev, local) beside our relay, same client and run\n\n")
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.Debug)
	fmt.Fprintf(tw, "metric\tour relay\tedge relay (workerd)\n")
	for r, name := range names {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, rows[r][0], rows[r][1])
	}
	tw.Flush()
	return sb.String()
}

func cellText(err error, format string, v float64) string {
	if err != nil {
		return "error: " + firstLine(err.Error())
	}
	return fmt.Sprintf(format, v)
}

// startEdge builds the Worker into tmp and runs it with wrangler dev
// (offline, an ephemeral port, the bench policy); pid is workerd's, so the
// CPU row counts the relay's isolate. It also returns app.wasm's gzip size.
func startEdge(tmp, wrangler string) (*server, int, error) {
	if _, err := os.Stat(wrangler); err != nil {
		return nil, 0, fmt.Errorf("wrangler is not installed (scripts/install-wrangler.sh): %v", err)
	}
	wrangler, _ = filepath.Abs(wrangler)
	dir := filepath.Join(tmp, "edge")
	for _, args := range [][]string{
		{"run", "github.com/syumai/workers/cmd/workers-assets-gen", "-mode=go", "-o", dir},
		{"build", "-trimpath", "-ldflags=-s", "-o", filepath.Join(dir, "app.wasm"), "./cmd/edge"},
	} {
		cmd := exec.Command("go", args...)
		if args[0] == "build" {
			cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, 0, fmt.Errorf("go %s: %v: %s", args[0], err, out)
		}
	}
	wasm, err := os.ReadFile(filepath.Join(dir, "app.wasm"))
	if err != nil {
		return nil, 0, err
	}
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	zw.Write(wasm)
	zw.Close()
	// The bench policy without webrtc, which the edge refuses.
	var policy map[string]any
	if err := json.Unmarshal([]byte(benchConfig), &policy); err != nil {
		return nil, 0, err
	}
	delete(policy, "webrtc")
	edgeConfig, _ := json.Marshal(policy)
	toml := fmt.Sprintf("name = \"sockshim-edge-bench\"\nmain = %q\ncompatibility_date = \"2026-05-01\"\n\n[vars]\nSOCKSHIM_CONFIG = '''%s'''\n",
		filepath.Join(dir, "worker.mjs"), edgeConfig)
	if err := os.WriteFile(filepath.Join(dir, "wrangler.toml"), []byte(toml), 0o600); err != nil {
		return nil, 0, err
	}
	w, err := wranglerdev.Start(wrangler, dir)
	if err != nil {
		return nil, 0, err
	}
	return &server{name: "edge relay", url: w.Wisp, pid: workerdPid(w.PGID, w.URL), stop: w.Stop}, z.Len(), nil
}

// workerdPid finds the workerd process in wrangler's process group that
// listens on the Worker's port (wrangler runs more than one); 0 if none.
func workerdPid(pgid int, url string) int {
	port := url[strings.LastIndexByte(url, ':')+1:]
	p, _ := strconv.Atoi(port)
	inode := listeningInode(p)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err != nil || g != pgid {
			continue
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); inode != "" && l == "socket:["+inode+"]" {
				return pid
			}
		}
	}
	return 0
}

// listeningInode is the socket inode of the TCP listener on 127.0.0.1:port.
func listeningInode(port int) string {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return ""
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == want && f[3] == "0A" {
			return f[9]
		}
	}
	return ""
}
