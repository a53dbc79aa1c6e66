//go:build !js

package e2e

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/syncbuf"
	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/shim"
)

var resumeMiB = flag.Int("resume-mib", 8, "MiB each way through 10 streams in each resume drop test (the issue's full volume: 64)")

// cutProxy forwards TCP to a relay and cuts the connections on demand: it
// is the network under test's control, not a thing under test.
type cutProxy struct {
	ln net.Listener

	mu       sync.Mutex
	upstream string
	pairs    map[*proxyPair]struct{}
	refuse   bool // drop new connections at once (the relay is unreachable)
}

type proxyPair struct {
	c, u *net.TCPConn
	hole chan struct{} // closed: blackholed, nothing is forwarded any more
	dead chan struct{}
	once sync.Once
}

func (pr *proxyPair) close(rst bool) {
	pr.once.Do(func() {
		if rst {
			pr.c.SetLinger(0)
			pr.u.SetLinger(0)
		}
		pr.c.Close()
		pr.u.Close()
		close(pr.dead)
	})
}

func newCutProxy(t *testing.T, upstream string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream, pairs: map[*proxyPair]struct{}{}}
	t.Cleanup(func() {
		ln.Close()
		p.cut("fin")
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c.(*net.TCPConn))
		}
	}()
	return p
}

func (p *cutProxy) URL() string { return "ws://" + p.ln.Addr().String() + "/wisp/" }

func (p *cutProxy) setUpstream(addr string) {
	p.mu.Lock()
	p.upstream = addr
	p.mu.Unlock()
}

func (p *cutProxy) setRefuse(r bool) {
	p.mu.Lock()
	p.refuse = r
	p.mu.Unlock()
}

func (p *cutProxy) serve(c *net.TCPConn) {
	p.mu.Lock()
	up, refuse := p.upstream, p.refuse
	p.mu.Unlock()
	if refuse {
		c.SetLinger(0)
		c.Close()
		return
	}
	uc, err := net.Dial("tcp", up)
	if err != nil {
		c.Close()
		return
	}
	pr := &proxyPair{c: c, u: uc.(*net.TCPConn), hole: make(chan struct{}), dead: make(chan struct{})}
	p.mu.Lock()
	p.pairs[pr] = struct{}{}
	p.mu.Unlock()
	pipe := func(dst, src *net.TCPConn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case <-pr.hole: // the bytes vanish, and so does everything after
					<-pr.dead
					return
				default:
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					pr.close(false)
					return
				}
			}
			if err != nil {
				pr.close(false)
				return
			}
		}
	}
	go pipe(pr.u, pr.c)
	pipe(pr.c, pr.u)
	<-pr.dead
	p.mu.Lock()
	delete(p.pairs, pr)
	p.mu.Unlock()
}

// cut breaks every live connection: "fin" closes both sides, "rst" resets
// them, "blackhole" stops forwarding and leaves them open (the peers must
// notice by themselves). It returns how many it cut.
func (p *cutProxy) cut(mode string) int {
	p.mu.Lock()
	pairs := make([]*proxyPair, 0, len(p.pairs))
	for pr := range p.pairs {
		pairs = append(pairs, pr)
	}
	p.mu.Unlock()
	n := 0
	for _, pr := range pairs {
		switch mode {
		case "blackhole":
			select {
			case <-pr.hole:
				continue
			default:
				close(pr.hole)
			}
		default:
			pr.close(mode == "rst")
		}
		n++
	}
	return n
}

// metric reads one value from the relay's /metrics.
func metric(t *testing.T, base, name string) int64 {
	t.Helper()
	v, err := metricValue(base, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// metricValue is metric for a goroutine other than the test's.
func metricValue(base, name string) (int64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// Prometheus writes large values as floats (1.048576e+06).
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("/metrics has no %s:\n%s", name, body)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, fmt.Errorf("/metrics %s: %v", name, err)
	}
	return int64(v), nil
}

func hostPort(r *relayProcess) string { return strings.TrimPrefix(r.URL, "http://") }

// waitUntil polls cond until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestResumeDrops streams through 10 echo streams, both ways at once,
// while the WebSocket is dropped five times (FIN, RST, or a blackhole the
// keepalive must notice): every stream's bytes arrive exactly (sha256),
// both replay buffers stay within their bound, and the client reports
// "reconnecting".
func TestResumeDrops(t *testing.T) {
	t.Parallel()
	const buffer = 512 << 10
	total := *resumeMiB << 20
	for _, mode := range []string{"fin", "rst", "blackhole"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			echo := testutil.EchoServer(t)
			r := startRelay(t, "-dev", "-resume-buffer", strconv.Itoa(buffer), "-resume-dead-after", "3s")
			p := newCutProxy(t, hostPort(r))
			var statuses sync.Map
			sess, err := wispclient.Dial(ctxT(t, 20*time.Second), p.URL(), &wispclient.Options{
				Resume: wispclient.ResumeOptions{Buffer: buffer, AckInterval: 200 * time.Millisecond,
					DeadAfter: 1500 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond},
				OnStatus: func(s wispclient.Status, _ error) { statuses.Store(s, true) },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			if sess.Status() != wispclient.StatusConnected || !sess.Extension(wisp.ExtResume) {
				t.Fatalf("status %v, resume offered %v", sess.Status(), sess.Extension(wisp.ExtResume))
			}
			const streams = 10
			tr := startEchoStreams(t, sess, echo.Port, streams, total/streams)
			progress := &tr.progress
			const drops = 5
			cutterDone := make(chan struct{})
			go func() {
				defer close(cutterDone)
				for i := 1; i <= drops; i++ {
					for progress.Load() < int64(i)*int64(total)/(drops+1) {
						time.Sleep(5 * time.Millisecond)
					}
					p.cut(mode)
					cutAt := time.Now()
					// the next drop waits for this one's resume
					for sess.ResumeStats().Resumes < int64(i) && sess.Status() != wispclient.StatusClosed {
						time.Sleep(10 * time.Millisecond)
					}
					t.Logf("drop %d (%s) at %d MiB back: resumed after %v", i, mode, progress.Load()>>20, time.Since(cutAt).Round(time.Millisecond))
				}
			}()
			tr.wait(t, time.Duration(60+*resumeMiB*2)*time.Second, func() string {
				return fmt.Sprintf("status %v, %+v", sess.Status(), sess.ResumeStats())
			})
			<-cutterDone
			cs := sess.ResumeStats()
			if cs.Resumes < drops {
				t.Errorf("%d resumes, want %d", cs.Resumes, drops)
			}
			if cs.BufferedHigh > buffer || cs.BufferCap > buffer {
				t.Errorf("client replay buffer held %d (allocated %d), bound %d", cs.BufferedHigh, cs.BufferCap, buffer)
			}
			if _, ok := statuses.Load(wispclient.StatusReconnecting); !ok {
				t.Error("the client never reported reconnecting")
			}
			relayHigh := metric(t, r.URL, "sockshim_resume_buffer_high_bytes")
			if relayHigh > buffer || relayHigh == 0 {
				t.Errorf("relay replay buffer high water %d, bound %d", relayHigh, buffer)
			}
			// The relay counts a resume once its replay is done, which can
			// come a moment after the client's transfer ends.
			resumes := metric(t, r.URL, "sockshim_resumes_total")
			for deadline := time.Now().Add(5 * time.Second); resumes < drops && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				resumes = metric(t, r.URL, "sockshim_resumes_total")
			}
			replayed := metric(t, r.URL, "sockshim_resume_replayed_bytes_total")
			if resumes < drops {
				t.Errorf("relay counted %d resumes, want %d", resumes, drops)
			}
			if replayed+cs.ReplayedBytes == 0 {
				t.Error("five drops mid-transfer and nothing was replayed either way")
			}
			t.Logf("%s: %d MiB each way, %d resumes; replayed client->relay %d bytes, relay->client %d bytes; buffer high client %d, relay %d (bound %d)",
				mode, *resumeMiB, cs.Resumes, cs.ReplayedBytes, replayed, cs.BufferedHigh, relayHigh, buffer)
		})
	}
}

// echoTransfer is streams echo streams, each sending per random bytes and
// checking the sha256 of what comes back.
type echoTransfer struct {
	progress atomic.Int64 // bytes back, all streams
	total    int64
	errc     chan error
	n        int
}

func startEchoStreams(t *testing.T, sess *wispclient.Session, port, streams, per int) *echoTransfer {
	t.Helper()
	tr := &echoTransfer{total: int64(streams * per), errc: make(chan error, streams), n: streams}
	for i := range streams {
		st, err := sess.Open(ctxT(t, 20*time.Second), wisp.StreamTCP, "127.0.0.1", uint16(port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		go func() {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(per)))
			sent := sha256.New()
			go func() {
				buf := make([]byte, 48<<10)
				for n := 0; n < per; {
					m := min(len(buf), per-n, 1+rng.IntN(len(buf)))
					for j := range buf[:m] {
						buf[j] = byte(rng.Uint32())
					}
					sent.Write(buf[:m])
					if _, err := st.Write(buf[:m]); err != nil {
						tr.errc <- fmt.Errorf("stream %d write after %d bytes: %w", i, n, err)
						return
					}
					n += m
				}
			}()
			got := sha256.New()
			buf := make([]byte, 64<<10)
			for n := 0; n < per; {
				m, err := st.Read(buf[:min(len(buf), per-n)])
				got.Write(buf[:m])
				n += m
				tr.progress.Add(int64(m))
				if err != nil {
					tr.errc <- fmt.Errorf("stream %d read after %d bytes: %w", i, n, err)
					return
				}
			}
			if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
				tr.errc <- fmt.Errorf("stream %d: sha256 of the %d bytes echoed differs from what was sent", i, per)
				return
			}
			tr.errc <- nil
		}()
	}
	return tr
}

// wait fails the test on the first stream error, or when the transfer is
// not done within d; state describes the session for the message.
func (tr *echoTransfer) wait(t *testing.T, d time.Duration, state func() string) {
	t.Helper()
	timeout := time.After(d)
	for range tr.n {
		select {
		case err := <-tr.errc:
			if err != nil {
				t.Fatalf("%v (%s)", err, state())
			}
		case <-timeout:
			t.Fatalf("transfer not done: %d of %d bytes back; %s", tr.progress.Load(), tr.total, state())
		}
	}
}

// rawHandshake runs a Wisp v2 handshake by hand with the given resume
// record. It returns the token on success, or the relay's close reason on
// stream 0 and the WebSocket close text.
func rawHandshake(t *testing.T, url string, rec wisp.ResumeClientInfo) (c *websocket.Conn, tok [wisp.TokenLen]byte, instance string, reason wisp.CloseReason, closeText string) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"wisp-v2"}})
	if err != nil {
		t.Fatal(err)
	}
	read := func() wisp.Packet {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("raw session: %v", err)
		}
		p, err := wisp.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	info := read()
	e, ok := info.Info.Find(wisp.ExtResume)
	if !ok {
		t.Fatal("the relay does not offer resume")
	}
	si, err := wisp.ParseResumeServerInfo(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	instance = si.Instance
	payload, err := wisp.AppendResumeClientInfo(nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	reply := wisp.Packet{Type: wisp.TypeInfo, Info: wisp.Info{Major: 2, Extensions: []wisp.Extension{{ID: wisp.ExtResume, Payload: payload}}}}
	if err := c.Write(ctx, websocket.MessageBinary, wisp.Append(nil, &reply)); err != nil {
		t.Fatal(err)
	}
	for {
		p := read()
		switch p.Type {
		case wisp.TypeContinue:
		case wisp.TypeResumeToken:
			tok, _, err = wisp.ParseResumeToken(p.Data)
			if err != nil {
				t.Fatal(err)
			}
			return c, tok, instance, 0, ""
		case wisp.TypeClose:
			_, _, err := c.Read(ctx)
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				closeText = ce.Reason
			}
			return c, tok, instance, p.Reason, closeText
		default:
			t.Fatalf("raw handshake: unexpected %v", p.Type)
		}
	}
}

// TestResumeTokenRefusals: wrong, replayed, misrouted and expired tokens
// are refused with their own close reason and a close text that says so.
func TestResumeTokenRefusals(t *testing.T) {
	t.Parallel()
	r := startRelay(t, "-dev", "-instance", "relay-a", "-resume-window", "1s")
	url := r.WispURL()
	c, t1, instance, reason, _ := rawHandshake(t, url, wisp.ResumeClientInfo{Version: 1})
	if reason != 0 || instance != "relay-a" {
		t.Fatalf("fresh session: reason %v, instance %q", reason, instance)
	}
	c.CloseNow() // the connection drops
	// resume with the token: a new token comes back
	c, t2, _, reason, _ := rawHandshake(t, url, wisp.ResumeClientInfo{Version: 1, Resume: true, Token: t1, Instance: instance})
	if reason != 0 || t2 == t1 {
		t.Fatalf("resume: reason %v, token rotated %v", reason, t2 != t1)
	}
	heardOnResumedLink(t, c) // t1 is used for good only once the relay heard the client
	c.CloseNow()
	check := func(name string, rec wisp.ResumeClientInfo, want wisp.CloseReason) {
		t.Helper()
		c, _, _, reason, text := rawHandshake(t, url, rec)
		c.CloseNow()
		if reason != want || !strings.Contains(text, "resume refused") {
			t.Errorf("%s: close reason %v, text %q; want %v", name, reason, text, want)
		}
	}
	check("replayed token", wisp.ResumeClientInfo{Version: 1, Resume: true, Token: t1, Instance: instance}, wisp.ReasonResumeUsed)
	check("wrong token", wisp.ResumeClientInfo{Version: 1, Resume: true, Token: [16]byte{1, 2, 3}, Instance: instance}, wisp.ReasonResumeUnknown)
	check("wrong relay", wisp.ResumeClientInfo{Version: 1, Resume: true, Token: t2, Instance: "relay-b"}, wisp.ReasonResumeWrongRelay)
	// a position the relay never reached ends the session it names
	check("position past what the relay sent", wisp.ResumeClientInfo{Version: 1, Resume: true, Token: t2, Received: 1 << 40, Instance: instance}, wisp.ReasonResumePosition)
	check("the session after that", wisp.ResumeClientInfo{Version: 1, Resume: true, Token: t2, Instance: instance}, wisp.ReasonResumeUsed)
	// a session whose window passes: its token is then expired
	c, t3, _, _, _ := rawHandshake(t, url, wisp.ResumeClientInfo{Version: 1})
	c.CloseNow()
	waitUntil(t, 20*time.Second, "the resume window expires", func() bool {
		return metric(t, r.URL, "sockshim_resume_windows_expired_total") >= 1
	})
	check("expired token", wisp.ResumeClientInfo{Version: 1, Resume: true, Token: t3, Instance: instance}, wisp.ReasonResumeExpired)
	waitUntil(t, 20*time.Second, "no session is held", func() bool {
		return metric(t, r.URL, "sockshim_sessions_detached") == 0 && metric(t, r.URL, "sockshim_sessions_open") == 0
	})
	if n := metric(t, r.URL, "sockshim_resumes_refused_total"); n != 6 {
		t.Errorf("%d refusals counted, want 6", n)
	}
}

// heardOnResumedLink has the raw client c speak on its resumed session (a
// CONNECT to a closed port) and waits for the relay's answer (CLOSE), so
// the relay has heard the client on this link.
func heardOnResumedLink(t *testing.T, c *websocket.Conn) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	closed := testutil.ClosedPort(t)
	req := wisp.Packet{Type: wisp.TypeConnect, StreamID: 1, StreamType: wisp.StreamTCP, Host: "127.0.0.1", Port: uint16(closed.Port)}
	if err := c.Write(ctx, websocket.MessageBinary, wisp.Append(nil, &req)); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for the relay's answer on the resumed link: %v", err)
		}
		if p, err := wisp.Parse(b); err == nil && p.Type == wisp.TypeClose && p.StreamID == 1 {
			return
		}
	}
}

// TestResumeTokenLostWithTheLink: a client whose link was lost before it
// read RESUME_TOKEN has only the token it presented; the relay takes that
// one again (and replaces the lost one, which is then refused) until it has
// heard the client on a resumed link.
func TestResumeTokenLostWithTheLink(t *testing.T) {
	t.Parallel()
	r := startRelay(t, "-dev")
	url := r.WispURL()
	c, t1, instance, reason, _ := rawHandshake(t, url, wisp.ResumeClientInfo{Version: 1})
	if reason != 0 {
		t.Fatalf("fresh session: reason %v", reason)
	}
	c.CloseNow()
	// The relay sends RESUME_TOKEN(t2); this client drops the link without
	// a word, as if t2 had been lost with it.
	c, t2, _, reason, _ := rawHandshake(t, url, wisp.ResumeClientInfo{Version: 1, Resume: true, Token: t1, Instance: instance})
	if reason != 0 {
		t.Fatalf("resume: reason %v", reason)
	}
	c.CloseNow()
	c, t3, _, reason, _ := rawHandshake(t, url, wisp.ResumeClientInfo{Version: 1, Resume: true, Token: t1, Instance: instance})
	if reason != 0 || t3 == t2 || t3 == t1 {
		t.Fatalf("resume with the token whose replacement was lost: reason %v", reason)
	}
	heardOnResumedLink(t, c)
	c.CloseNow()
	for _, tc := range []struct {
		name string
		tok  [wisp.TokenLen]byte
	}{{"the lost replacement", t2}, {"the old token once the client was heard", t1}} {
		c, _, _, reason, _ := rawHandshake(t, url, wisp.ResumeClientInfo{Version: 1, Resume: true, Token: tc.tok, Instance: instance})
		c.CloseNow()
		if reason != wisp.ReasonResumeUsed {
			t.Errorf("%s: reason %v, want %v", tc.name, reason, wisp.ReasonResumeUsed)
		}
	}
	c, _, _, reason, _ = rawHandshake(t, url, wisp.ResumeClientInfo{Version: 1, Resume: true, Token: t3, Instance: instance})
	c.CloseNow()
	if reason != 0 {
		t.Errorf("the current token: reason %v", reason)
	}
	if got := metric(t, r.URL, "sockshim_resumes_total"); got != 3 {
		t.Errorf("the relay counted %d resumes, want 3", got)
	}
}

// TestResumeRelayRestart: the relay dies during the session and another
// one (same instance id, fresh memory) takes its address: the resume is
// refused and every socket fails with ConnectionResetByPeer, not with
// data from elsewhere.
func TestResumeRelayRestart(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	a := startRelay(t, "-dev", "-instance", "relay-1")
	b := startRelay(t, "-dev", "-instance", "relay-1")
	p := newCutProxy(t, hostPort(a))
	tr := shim.RelayTransport(p.URL(), nil)
	h, _ := shim.NewHostName("127.0.0.1")
	var socks []*shim.StreamSocket
	for range 10 {
		s := shim.NewStreamSocket(tr)
		if err := s.Connect(ctxT(t, 10*time.Second), h, strconv.Itoa(echo.Port)); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Fatal(err)
		}
		socks = append(socks, s)
	}
	p.setUpstream(hostPort(b))
	a.kill()
	start := time.Now()
	var wg sync.WaitGroup
	for i, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := s.Read(make([]byte, 16))
			if n != 0 || err == nil {
				t.Errorf("socket %d: read %d bytes, %v after the relay died", i, n, err)
				return
			}
			if st := shim.GetStatus(err); st != shim.SocketErrorConnectionResetByPeer {
				t.Errorf("socket %d: status %v (%v), want ConnectionResetByPeer", i, st, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("every socket failed %v after the relay died", time.Since(start).Round(time.Millisecond))
	if n := metric(t, b.URL, "sockshim_resumes_refused_total"); n < 1 {
		t.Errorf("the new relay refused %d resumes", n)
	}
}

// TestResumeUnreachable: the relay cannot be reached again within the
// window: the client gives up, its sockets fail with
// ConnectionResetByPeer, and the relay releases the session.
func TestResumeUnreachable(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	r := startRelay(t, "-dev", "-resume-window", "2s")
	p := newCutProxy(t, hostPort(r))
	sess, err := wispclient.Dial(ctxT(t, 10*time.Second), p.URL(), &wispclient.Options{
		Resume: wispclient.ResumeOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	st, err := sess.Open(ctxT(t, 10*time.Second), wisp.StreamTCP, "127.0.0.1", uint16(echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	p.setRefuse(true)
	p.cut("rst")
	_, err = st.Read(make([]byte, 1))
	var re *wispclient.ResumeError
	if !errors.As(err, &re) || !errors.Is(err, wispclient.ErrSessionLost) {
		t.Fatalf("read after the window: %v, want a ResumeError", err)
	}
	if sess.Status() != wispclient.StatusClosed {
		t.Errorf("status %v after giving up", sess.Status())
	}
	waitUntil(t, 20*time.Second, "the relay releases the session", func() bool {
		return metric(t, r.URL, "sockshim_resume_windows_expired_total") == 1 &&
			metric(t, r.URL, "sockshim_sessions_detached") == 0 && metric(t, r.URL, "sockshim_streams_open") == 0
	})
}

// nginxPath finds Debian's nginx, or $NGINX.
func nginxPath() (string, error) {
	if p := os.Getenv("NGINX"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("nginx not found (scripts/install-nginx.sh installs Debian's)")
}

// startNginx runs deploy/nginx.conf with the two relays' addresses in
// place of its examples, on a free loopback port, and returns host:port.
func startNginx(t *testing.T, relay1, relay2 string) string {
	t.Helper()
	bin, err := nginxPath()
	require(t, "SOCKSHIM_REQUIRE_NGINX", err)
	conf, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	c := strings.NewReplacer("127.0.0.1:8081", relay1, "127.0.0.1:8082", relay2, "127.0.0.1:8080", addr).Replace(string(conf))
	dir := t.TempDir()
	for _, d := range []string{"tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-g", "daemon off;")
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) // graceful: finish, then exit
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case err := <-exited:
			t.Fatalf("nginx exited: %v\n%s", err, &stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s\n%s", addr, &stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestResumeBehindNginx: two relay processes behind nginx running
// deploy/nginx.conf. Sessions land on both; every drop resumes on the relay
// that holds the session (nginx routes ?resume=<instance>), bytes arrive
// exactly; a resume that reaches the other relay is refused with 0xDB.
func TestResumeBehindNginx(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	r1 := startRelay(t, "-dev", "-instance", "relay-1")
	r2 := startRelay(t, "-dev", "-instance", "relay-2")
	lb := startNginx(t, hostPort(r1), hostPort(r2))
	p := newCutProxy(t, lb)
	const sessions, drops = 4, 4
	total := max(*resumeMiB/2, 1) << 20
	var transfers []*echoTransfer
	var sess []*wispclient.Session
	for range sessions {
		s, err := wispclient.Dial(ctxT(t, 20*time.Second), p.URL(), &wispclient.Options{
			Resume: wispclient.ResumeOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sess = append(sess, s)
		transfers = append(transfers, startEchoStreams(t, s, echo.Port, 4, total/sessions/4))
	}
	if n1, n2 := metric(t, r1.URL, "sockshim_sessions_total"), metric(t, r2.URL, "sockshim_sessions_total"); n1 == 0 || n2 == 0 {
		t.Fatalf("sessions on relay-1: %d, relay-2: %d; nginx should spread them", n1, n2)
	}
	resumes := func() (n int64) {
		for _, s := range sess {
			n += s.ResumeStats().Resumes
		}
		return n
	}
	back := func() (n int64) {
		for _, tr := range transfers {
			n += tr.progress.Load()
		}
		return n
	}
	for i := 1; i <= drops; i++ {
		waitUntil(t, 60*time.Second, "transfer progress", func() bool { return back() >= int64(i)*int64(total)/(drops+1) })
		p.cut([]string{"fin", "rst"}[i%2])
		waitUntil(t, 60*time.Second, "every session resumed", func() bool { return resumes() >= int64(i*sessions) })
	}
	for _, tr := range transfers {
		tr.wait(t, 120*time.Second, func() string { return fmt.Sprintf("%d resumes", resumes()) })
	}
	got := metric(t, r1.URL, "sockshim_resumes_total") + metric(t, r2.URL, "sockshim_resumes_total")
	refused := metric(t, r1.URL, "sockshim_resumes_refused_total") + metric(t, r2.URL, "sockshim_resumes_refused_total")
	if got != int64(drops*sessions) || refused != 0 {
		t.Errorf("relays resumed %d sessions and refused %d; want %d and 0 (every resume routed to its relay)", got, refused, drops*sessions)
	}
	// A resume nginx sends to the other relay: refused, with the reason.
	c, tok, inst, _, _ := rawHandshake(t, "ws://"+lb+"/wisp/?resume=relay-1", wisp.ResumeClientInfo{Version: 1})
	c.CloseNow()
	if inst != "relay-1" {
		t.Fatalf("?resume=relay-1 reached %q", inst)
	}
	c, _, inst, reason, text := rawHandshake(t, "ws://"+lb+"/wisp/?resume=relay-2",
		wisp.ResumeClientInfo{Version: 1, Resume: true, Token: tok, Instance: "relay-1"})
	c.CloseNow()
	if inst != "relay-2" || reason != wisp.ReasonResumeWrongRelay || !strings.Contains(text, "another relay") {
		t.Errorf("resume of a relay-1 session on %s: reason %v, text %q; want %v", inst, reason, text, wisp.ReasonResumeWrongRelay)
	}
	t.Logf("%d sessions over 2 relays, %d drops each, %d resumes, %d MiB each way", sessions, drops, got, total>>20)
}
