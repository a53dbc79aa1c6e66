//go:build !js

package integration

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/sockshim/sockshim/relay"
)

// requireServer reports a missing server binary: a failure when
// SOCKSHIM_REQUIRE_SERVERS=1 (set by `make test-integration`), else a skip
// that says how to install it.
func requireServer(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("SOCKSHIM_REQUIRE_SERVERS") == "1" {
		t.Fatalf("%s: %v (run scripts/install-servers.sh)", what, err)
	}
	t.Skipf("%s: %v (run scripts/install-servers.sh; SOCKSHIM_REQUIRE_SERVERS=1 makes this a failure)", what, err)
}

// startRelay runs a sockshim relay (the relay package, as cmd/relay does)
// on a loopback HTTP server with the dev policy, which grants loopback,
// and returns its Wisp URL.
func startRelay(t *testing.T) string {
	t.Helper()
	srv := relay.New(&relay.Options{Config: relay.DevConfig(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("relay shutdown: %v", err)
		}
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/wisp/"
}

// workDir is a fresh directory that other users can traverse (servers
// that drop privileges must reach their files), removed at cleanup.
func workDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sockshim-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// freePort is a loopback TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// logBuffer collects a server's output for waiting on and for failures.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server is a started server process.
type server struct {
	name   string
	cmd    *exec.Cmd
	log    *logBuffer
	exited chan struct{}
	err    error
}

// startServer starts cmd, waits until ready reports true (polled, up to
// 60 s, failing early if the process exits) and stops it at cleanup with
// stop (a signal), then SIGKILL after 20 s.
func startServer(t *testing.T, name string, cmd *exec.Cmd, stop os.Signal, ready func(log string) bool) *server {
	t.Helper()
	s := &server{name: name, cmd: cmd, log: &logBuffer{}, exited: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = s.log
	}
	cmd.Stderr = s.log
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // never outlive the test binary
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { s.err = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(stop)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-s.exited
			t.Errorf("%s did not stop within 20 s of %v\n%s", name, stop, s.log)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !ready(s.log.String()) {
		select {
		case <-s.exited:
			t.Fatalf("%s exited before it was ready: %v\n%s", name, s.err, s.log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60 s\n%s", name, s.log)
		}
	}
	return s
}

// listening reports whether something accepts TCP on addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// certs is a private CA and a server certificate it issued for localhost
// and 127.0.0.1, in PEM.
type certs struct {
	CAPEM, CertPEM, KeyPEM []byte
	Pool                   *x509.CertPool
}

var testCerts = sync.OnceValues(func() (*certs, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sockshim integration CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	c := &certs{
		CAPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		Pool:    x509.NewCertPool(),
	}
	c.Pool.AddCert(ca)
	return c, nil
})

func getCerts(t *testing.T) *certs {
	t.Helper()
	c, err := testCerts()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

// postgres is a running PostgreSQL.
type postgres struct {
	Addr string // 127.0.0.1:port
}

// findPostgres returns the directory of Debian's newest PostgreSQL
// binaries (/usr/lib/postgresql/N/bin), or of initdb on $PATH.
func findPostgres() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", fmt.Errorf("no PostgreSQL server binaries (initdb) found")
	}
	return filepath.Dir(p), nil
}

// asServerUser makes cmd run as an unprivileged user when the test runs as
// root (PostgreSQL refuses root): Debian's postgres user, else nobody.
// It returns that user's uid and gid (or the current ones).
func asServerUser(t *testing.T, cmds ...*exec.Cmd) (uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		return os.Getuid(), os.Getgid()
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("running as root and no postgres or nobody user to run PostgreSQL as: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	for _, c := range cmds {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	return uid, gid
}

// startPostgres initialises a cluster in a temporary directory (trust
// authentication, user postgres) and runs it on 127.0.0.1 with TLS on,
// using the test CA's server certificate.
func startPostgres(t *testing.T) *postgres {
	t.Helper()
	bin, err := findPostgres()
	requireServer(t, "PostgreSQL", err)
	dir := workDir(t, "pg")
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	uid, gid := asServerUser(t, initdb)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c := getCerts(t)
	crt, key := filepath.Join(data, "server.crt"), filepath.Join(data, "server.key")
	writeFile(t, crt, c.CertPEM, 0o644)
	writeFile(t, key, c.KeyPEM, 0o600)
	for _, f := range []string{crt, key} {
		if err := os.Chown(f, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+dir, "-c", "ssl=on",
		"-c", "ssl_cert_file="+crt, "-c", "ssl_key_file="+key,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	asServerUser(t, cmd)
	startServer(t, "postgres", cmd, syscall.SIGINT, func(log string) bool {
		return strings.Contains(log, "database system is ready to accept connections")
	})
	return &postgres{Addr: "127.0.0.1:" + strconv.Itoa(port)}
}

// sshServer is a running sshd and the key that logs in to it.
type sshServer struct {
	Addr    string
	User    string
	Dir     string // the server's directory, writable by User
	Key     ssh.Signer
	KeyPEM  []byte // the client's private key, OpenSSH PEM
	HostKey ssh.PublicKey
}

// startSSHD runs OpenSSH's sshd with its own config and host key on a high
// loopback port, accepting one generated client key for the current user.
func startSSHD(t *testing.T) *sshServer {
	t.Helper()
	const sshd = "/usr/sbin/sshd" // sshd re-executes itself: it needs its absolute path
	_, err := os.Stat(sshd)
	requireServer(t, "OpenSSH server", err)
	if os.Geteuid() == 0 {
		// Debian's init script creates it; sshd refuses to start without it.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := workDir(t, "sshd")
	hostPub, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostPEM, err := ssh.MarshalPrivateKey(hostPriv, "sockshim test host")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "host_ed25519"), pem.EncodeToMemory(hostPEM), 0o600)
	_, clientPriv, _ := ed25519.GenerateKey(rand.Reader)
	clientPEMBlock, err := ssh.MarshalPrivateKey(clientPriv, "sockshim test client")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(clientPriv)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600)
	port := freePort(t)
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %[2]s/host_ed25519
PidFile %[2]s/sshd.pid
AuthorizedKeysFile %[2]s/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
Subsystem sftp internal-sftp
LogLevel VERBOSE
`, port, dir)
	writeFile(t, filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startServer(t, "sshd", exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config")), syscall.SIGTERM,
		func(string) bool { return listening(addr) })
	hk, err := ssh.NewPublicKey(hostPub)
	if err != nil {
		t.Fatal(err)
	}
	return &sshServer{Addr: addr, User: u.Username, Dir: dir, Key: signer, KeyPEM: pem.EncodeToMemory(clientPEMBlock), HostKey: hk}
}

// startRedis runs redis-server on a loopback port, without persistence.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	requireServer(t, "Redis", err)
	dir := workDir(t, "redis")
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir, "--daemonize", "no", "--logfile", "")
	startServer(t, "redis-server", cmd, syscall.SIGTERM, func(log string) bool {
		return strings.Contains(log, "Ready to accept connections")
	})
	return "127.0.0.1:" + strconv.Itoa(port)
}

// nginxServer is a running nginx serving Files over HTTP and HTTPS.
type nginxServer struct {
	HTTPURL, HTTPSURL string            // http://127.0.0.1:port, https://localhost:port
	Files             map[string][]byte // path ("/big.bin") -> content
}

// startNginx runs nginx -p DIR on two loopback ports (HTTP/1.1 and HTTPS
// with the test CA's certificate), serving a small page and 4 MiB of
// random bytes.
func startNginx(t *testing.T) *nginxServer {
	t.Helper()
	const bin = "/usr/sbin/nginx"
	_, err := os.Stat(bin)
	requireServer(t, "nginx", err)
	dir := workDir(t, "nginx")
	html := filepath.Join(dir, "html")
	if err := os.Mkdir(html, 0o755); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 4<<20)
	rand.Read(big)
	files := map[string][]byte{"/index.html": []byte("hello from nginx\n"), "/big.bin": big}
	for name, b := range files {
		writeFile(t, filepath.Join(html, name), b, 0o644)
	}
	c := getCerts(t)
	writeFile(t, filepath.Join(dir, "server.crt"), c.CertPEM, 0o644)
	writeFile(t, filepath.Join(dir, "server.key"), c.KeyPEM, 0o600)
	httpPort, httpsPort := freePort(t), freePort(t)
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:%[2]d;
		root %[1]s/html;
	}
	server {
		listen 127.0.0.1:%[3]d ssl;
		ssl_certificate %[1]s/server.crt;
		ssl_certificate_key %[1]s/server.key;
		root %[1]s/html;
	}
}
`, dir, httpPort, httpsPort)
	writeFile(t, filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644)
	httpAddr, httpsAddr := "127.0.0.1:"+strconv.Itoa(httpPort), "127.0.0.1:"+strconv.Itoa(httpsPort)
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	startServer(t, "nginx", cmd, syscall.SIGQUIT, func(string) bool { return listening(httpAddr) && listening(httpsAddr) })
	return &nginxServer{HTTPURL: "http://" + httpAddr, HTTPSURL: "https://localhost:" + strconv.Itoa(httpsPort), Files: files}
}
