// Package scenario is what the integration tests do with each client
// library over a shim.Dialer, written once and run both natively and
// compiled to wasm in headless Chromium.
package scenario

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/ssh"

	"github.com/sockshim/sockshim/shim"
)

// Postgres connects pgx to the server at addr ("127.0.0.1:port", TLS with
// a certificate for localhost from roots), creates a table, inserts
// 10,000 rows and reads them back, in plain text and over TLS.
func Postgres(t testing.TB, ctx context.Context, d *shim.Dialer, addr string, roots *x509.CertPool) {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	for _, c := range []struct {
		name, url string
		tls       bool
	}{
		{"plain", "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable", false},
		{"tls", "postgres://postgres@localhost:" + port + "/postgres?sslmode=verify-full", true},
	} {
		cfg, err := pgx.ParseConfig(c.url)
		if err != nil {
			t.Fatal(err)
		}
		// The one line: pgx dials through sockshim.
		cfg.DialFunc = d.DialContext
		// Let the transport (in a browser: the relay) resolve host names;
		// pgx would otherwise look them up itself first.
		cfg.LookupFunc = func(ctx context.Context, host string) ([]string, error) { return []string{host}, nil }
		if c.tls {
			cfg.TLSConfig = &tls.Config{RootCAs: roots, ServerName: "localhost"}
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("postgres %s: connect: %v", c.name, err)
		}
		defer conn.Close(context.Background())
		var ssl bool
		if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
			t.Fatalf("postgres %s: pg_stat_ssl: %v", c.name, err)
		}
		if ssl != c.tls {
			t.Errorf("postgres %s: server says ssl=%v", c.name, ssl)
		}
		table := "rows_" + c.name + "_" + fmt.Sprint(time.Now().UnixNano())
		if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, label text NOT NULL)"); err != nil {
			t.Fatalf("postgres %s: create table: %v", c.name, err)
		}
		const n = 10000
		batch := &pgx.Batch{}
		for i := range n {
			batch.Queue("INSERT INTO "+table+" (id, label) VALUES ($1, $2)", i, fmt.Sprintf("row %d", i))
		}
		if err := conn.SendBatch(ctx, batch).Close(); err != nil {
			t.Fatalf("postgres %s: insert %d rows: %v", c.name, n, err)
		}
		rows, err := conn.Query(ctx, "SELECT id, label FROM "+table+" ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for rows.Next() {
			var id int
			var label string
			if err := rows.Scan(&id, &label); err != nil {
				t.Fatal(err)
			}
			if id != got || label != fmt.Sprintf("row %d", got) {
				t.Fatalf("postgres %s: row %d is (%d, %q)", c.name, got, id, label)
			}
			got++
		}
		if err := rows.Err(); err != nil || got != n {
			t.Fatalf("postgres %s: read back %d rows of %d: %v", c.name, got, n, err)
		}
		t.Logf("postgres %s: %d rows inserted and read back (ssl=%v)", c.name, n, ssl)
	}
}

// SSH logs in to the sshd at addr with key, runs a command, and moves
// 16 MiB each way over sessions (through a file in the server's directory
// dir), checked with sha256 on both ends.
func SSH(t testing.TB, ctx context.Context, d *shim.Dialer, addr, user string, key ssh.Signer, hostKey ssh.PublicKey, dir string) {
	t.Helper()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		Timeout:         30 * time.Second,
	}
	// The one line: an SSH client over a sockshim net.Conn.
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		t.Fatalf("ssh handshake: %v", err)
	}
	client := ssh.NewClient(cc, chans, reqs)
	defer client.Close()

	out := run(t, client, "echo hello from $(id -un)", nil)
	if want := "hello from " + user + "\n"; out != want {
		t.Errorf("ssh command output %q, want %q", out, want)
	}

	const size = 16 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>12) // not compressible into nothing, deterministic
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	start := time.Now()
	file := fmt.Sprintf("%s/transfer-%d.bin", dir, time.Now().UnixNano())
	out = run(t, client, "tee "+file+" | sha256sum", bytes.NewReader(data))
	if got, _, _ := strings.Cut(out, " "); got != want {
		t.Fatalf("upload: the server's sha256 is %q, want %q", out, want)
	}
	up := time.Since(start)
	start = time.Now()
	s, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stdout, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("cat " + file + " && rm -f " + file); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, stdout)
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	if err := s.Wait(); err != nil {
		t.Fatalf("download: %v", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("download: sha256 %s, want %s", got, want)
	}
	t.Logf("ssh: 16 MiB up in %v, down in %v, sha256 %s…", up.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), want[:12])
}

func run(t testing.TB, c *ssh.Client, cmd string, stdin io.Reader) string {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Stdin = stdin
	var out, errOut strings.Builder
	s.Stdout, s.Stderr = &out, &errOut
	if err := s.Run(cmd); err != nil {
		t.Fatalf("ssh %q: %v\n%s", cmd, err, errOut.String())
	}
	return out.String()
}

// Redis does SET/GET and a PUBLISH seen by a subscriber, with go-redis.
func Redis(t testing.TB, ctx context.Context, d *shim.Dialer, addr string) {
	t.Helper()
	// The one line: go-redis dials through sockshim.
	rdb := redis.NewClient(&redis.Options{Addr: addr, Dialer: d.DialContext})
	defer rdb.Close()
	key := fmt.Sprintf("sockshim:%d", time.Now().UnixNano())
	if err := rdb.Set(ctx, key, "value over sockshim", time.Minute).Err(); err != nil {
		t.Fatalf("redis SET: %v", err)
	}
	if v, err := rdb.Get(ctx, key).Result(); err != nil || v != "value over sockshim" {
		t.Fatalf("redis GET: %q, %v", v, err)
	}
	sub := rdb.Subscribe(ctx, key+":chan")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatalf("redis SUBSCRIBE: %v", err)
	}
	ch := sub.Channel()
	for i := range 3 {
		msg := fmt.Sprintf("message %d", i)
		if n, err := rdb.Publish(ctx, key+":chan", msg).Result(); err != nil || n != 1 {
			t.Fatalf("redis PUBLISH: %d receivers, %v", n, err)
		}
		select {
		case m := <-ch:
			if m.Payload != msg {
				t.Fatalf("redis pub/sub: got %q, want %q", m.Payload, msg)
			}
		case <-ctx.Done():
			t.Fatalf("redis pub/sub: no message: %v", ctx.Err())
		}
	}
	t.Logf("redis: SET/GET and 3 pub/sub messages")
}

// HTTP fetches from nginx with net/http: HTTP/1.1, and HTTPS both with
// Go's TLS in http.Transport and with sockshim's (DialTLSContext and
// ProtectionLevel). bigSHA is the hex sha256 of /big.bin. It checks that
// every request went through the Dialer.
func HTTP(t testing.TB, ctx context.Context, d *shim.Dialer, httpURL, httpsURL string, roots *x509.CertPool, bigSHA string) {
	t.Helper()
	var dials atomic.Int32
	counted := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	tlsDialer := *d
	tlsDialer.ProtectionLevel = shim.ProtectionLevelSsl
	tlsDialer.Control = func(_, _ string, c *shim.StreamSocketControl) error {
		c.SetTrustedRoots(roots)
		return nil
	}
	for _, c := range []struct {
		name, base string
		tr         *http.Transport
	}{
		// The one line: net/http dials through sockshim.
		{"http", httpURL, &http.Transport{DialContext: counted}},
		{"https (Go TLS in http.Transport)", httpsURL, &http.Transport{DialContext: counted, TLSClientConfig: &tls.Config{RootCAs: roots}}},
		{"https (sockshim TLS)", httpsURL, &http.Transport{DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return tlsDialer.DialContext(ctx, network, addr)
		}}},
	} {
		before := dials.Load()
		client := &http.Client{Transport: c.tr, Timeout: 60 * time.Second}
		req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/index.html", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: GET /index.html: %v", c.name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != "hello from nginx\n" {
			t.Fatalf("%s: GET /index.html: %s %q %v", c.name, resp.Status, body, err)
		}
		if resp.Proto != "HTTP/1.1" || !strings.HasPrefix(resp.Header.Get("Server"), "nginx") {
			t.Errorf("%s: %s from %q, want HTTP/1.1 from nginx", c.name, resp.Proto, resp.Header.Get("Server"))
		}
		if (resp.TLS != nil) != strings.HasPrefix(c.base, "https") && !strings.Contains(c.name, "sockshim TLS") {
			t.Errorf("%s: resp.TLS = %v", c.name, resp.TLS)
		}
		req, _ = http.NewRequestWithContext(ctx, "GET", c.base+"/big.bin", nil)
		resp, err = client.Do(req)
		if err != nil {
			t.Fatalf("%s: GET /big.bin: %v", c.name, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil || hex.EncodeToString(h.Sum(nil)) != bigSHA {
			t.Fatalf("%s: /big.bin: %d bytes, sha256 mismatch or %v", c.name, n, err)
		}
		c.tr.CloseIdleConnections()
		if got := dials.Load() - before; got != 1 {
			t.Errorf("%s: %d dials through sockshim for 2 requests, want 1 (one kept-alive connection)", c.name, got)
		}
		t.Logf("%s: /index.html and %d bytes of /big.bin over %s through sockshim", c.name, n, resp.Proto)
	}
}
