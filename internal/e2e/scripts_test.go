//go:build linux

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// aptSandbox is a real apt-get confined to a temporary state: its own dpkg
// status (a copy of this machine's), lists, cache and an empty source list,
// so it installs nothing and touches nothing outside dir, yet takes and
// waits for dir/dpkg/lock-frontend exactly as it takes the real one.
func aptSandbox(t *testing.T) (wrapper, lockFile string) {
	t.Helper()
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get is missing: not a Debian machine")
	}
	dir := t.TempDir()
	for _, d := range []string{"dpkg", "state", "lists/partial", "cache/archives/partial", "parts"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"dpkg/status": status, "dpkg/lock-frontend": nil, "dpkg/lock": nil, "sources.list": nil} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wrapper = filepath.Join(dir, "apt-get")
	script := "#!/bin/sh\nexec apt-get -o Dir::State=" + dir + "/state -o Dir::State::status=" + dir + "/dpkg/status" +
		" -o Dir::State::Lists=" + dir + "/lists -o Dir::Cache=" + dir + "/cache" +
		" -o Dir::Etc::SourceList=" + dir + "/sources.list -o Dir::Etc::SourceParts=" + dir + "/parts \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return wrapper, filepath.Join(dir, "dpkg", "lock-frontend")
}

// holdLock takes the fcntl lock apt and dpkg use on path, as another apt
// process would; release gives it back.
func holdLock(t *testing.T, path string) (release func()) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return func() { f.Close() }
}

func runAptInstall(t *testing.T, wrapper, timeout string, pkgs ...string) (string, error, time.Duration) {
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "apt-install.sh"), pkgs...)
	cmd.Env = append(os.Environ(), "APT_GET="+wrapper, "SOCKSHIM_APT_LOCK_TIMEOUT="+timeout)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	return string(out), err, time.Since(start)
}

// TestAptInstallWaitsForLock: scripts/install-*.sh install through
// scripts/apt-install.sh, which waits while another process holds the dpkg
// lock and goes on once it is free.
func TestAptInstallWaitsForLock(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("apt-get needs root")
	}
	wrapper, lock := aptSandbox(t)
	release := holdLock(t, lock)
	held := 3 * time.Second
	timer := time.AfterFunc(held, release)
	defer timer.Stop()
	out, err, took := runAptInstall(t, wrapper, "120", "dpkg")
	if err != nil {
		t.Fatalf("apt-install with the lock held for %v: %v\n%s", held, err, out)
	}
	if took < held {
		t.Errorf("apt-install finished after %v, before the lock was released (%v): did it take the lock?\n%s", took, held, out)
	}
	if !strings.Contains(out, "dpkg is already the newest version") {
		t.Errorf("apt-install did not run the install:\n%s", out)
	}
}

// TestAptInstallLockTimeout: a lock held past the timeout fails, within the
// timeout (plus slack), with a message that names the lock.
func TestAptInstallLockTimeout(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("apt-get needs root")
	}
	wrapper, lock := aptSandbox(t)
	defer holdLock(t, lock)()
	out, err, took := runAptInstall(t, wrapper, "3", "dpkg")
	if err == nil {
		t.Fatalf("apt-install succeeded with the lock held:\n%s", out)
	}
	if took > 30*time.Second {
		t.Errorf("apt-install gave up after %v with a 3 s timeout", took)
	}
	if !strings.Contains(out, "apt-install: gave up after 3s: another process still holds the dpkg/apt lock") {
		t.Errorf("no clear message:\n%s", out)
	}
}

// TestInstallScriptsUseAptInstall: every install script installs Debian
// packages only through apt-install.sh.
func TestInstallScriptsUseAptInstall(t *testing.T) {
	scripts, _ := filepath.Glob(filepath.Join(repoRoot, "scripts", "install-*.sh"))
	if len(scripts) == 0 {
		t.Fatal("no scripts/install-*.sh")
	}
	for _, s := range scripts {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "apt-get") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
				t.Errorf("%s:%d calls apt-get itself; use scripts/apt-install.sh (bounded wait for the dpkg lock): %s", filepath.Base(s), i+1, line)
			}
		}
	}
}
