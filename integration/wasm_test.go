//go:build !js

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// repoRoot is the main module, the parent of this one.
var repoRoot = func() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}()

// TestWasmChromium runs ./wasmtest (the same scenarios, compiled to wasm)
// in headless Chromium with tools/wasmbrowser, against the same
// kinds of servers, through a relay the page reaches from its own origin.
func TestWasmChromium(t *testing.T) {
	t.Parallel()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("SOCKSHIM_REQUIRE_BROWSER") == "1" {
			t.Fatalf("chromium: %v (run scripts/install-chromium.sh)", err)
		}
		t.Skipf("chromium: %v (run scripts/install-chromium.sh; SOCKSHIM_REQUIRE_BROWSER=1 makes this a failure)", err)
	}
	pg := startPostgres(t)
	sshd := startSSHD(t)
	redisAddr := startRedis(t)
	ng := startNginx(t)
	relayURL := startRelay(t)
	c := getCerts(t)
	sum := sha256.Sum256(ng.Files["/big.bin"])

	runner := filepath.Join(t.TempDir(), "wasmbrowser")
	build := exec.Command("go", "build", "-o", runner, "./tools/wasmbrowser")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build wasmbrowser: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-timeout", "180s", "-exec", runner, "-v", "./wasmtest/")
	// CGO_ENABLED=0: make test-integration runs with cgo on (for -race), and
	// a js build with cgo fails (os/user, which pgx imports).
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0",
		"SOCKSHIM_RELAY_URL="+relayURL,
		"SOCKSHIM_CA_PEM="+string(c.CAPEM),
		"SOCKSHIM_PG_ADDR="+pg.Addr,
		"SOCKSHIM_SSH_ADDR="+sshd.Addr,
		"SOCKSHIM_SSH_USER="+sshd.User,
		"SOCKSHIM_SSH_DIR="+sshd.Dir,
		"SOCKSHIM_SSH_KEY="+string(sshd.KeyPEM),
		"SOCKSHIM_SSH_HOST_KEY="+string(ssh.MarshalAuthorizedKey(sshd.HostKey)),
		"SOCKSHIM_REDIS_ADDR="+redisAddr,
		"SOCKSHIM_HTTP_URL="+ng.HTTPURL,
		"SOCKSHIM_HTTPS_URL="+ng.HTTPSURL,
		"SOCKSHIM_BIG_SHA256="+hex.EncodeToString(sum[:]),
	)
	out, err := cmd.CombinedOutput()
	t.Logf("wasm scenarios in Chromium:\n%s", out)
	if err != nil {
		t.Fatalf("wasm scenarios failed: %v", err)
	}
	for _, name := range []string{"TestPostgres", "TestSSH", "TestRedis", "TestHTTP", "TestHTTPWithoutDialerUsesFetch", "TestHTTPServerInTheTab"} {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass in Chromium", name)
		}
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Error("a wasm scenario was skipped")
	}
}
