//go:build !js

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
)

// TestWispJSClientUDPThroughOurRelay: the unmodified wisp-js client's UDP
// streams (Wisp stream type 0x02, which it uses because the relay
// advertises the UDP extension) through sockshim's relay to a UDP echo
// server on loopback, every datagram back whole.
func TestWispJSClientUDPThroughOurRelay(t *testing.T) {
	t.Parallel()
	needNode(t)
	echo := testutil.UDPEchoServer(t)
	url, _ := testutil.Relay(t, nil)
	res, err := runWispJSScript(t, "udp.mjs", url, "127.0.0.1", strconv.Itoa(echo.Port), "--count=40")
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("wisp-js UDP through the relay failed: %s", res.Error)
	}
}

type udpResult struct {
	OK       bool     `json:"ok"`
	Received int      `json:"received"`
	Warnings []string `json:"warnings"`
	Error    string   `json:"error"`
}

// runWispJSScript runs a probe in test/interop and decodes its JSON line.
func runWispJSScript(t *testing.T, script string, args ...string) (udpResult, error) {
	t.Helper()
	node, dir := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", script, stderr.String())
	}
	var res udpResult
	line := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return res, fmt.Errorf("%s printed no result (%v; exit: %v): %q", script, err, runErr, stdout.String())
	}
	t.Logf("%s: %s", script, line)
	if (runErr == nil) != res.OK {
		return res, fmt.Errorf("%s: ok=%v but exit %v", script, res.OK, runErr)
	}
	return res, nil
}
