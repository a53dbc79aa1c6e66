//go:build !js

// Command relay is the sockshim relay: a Wisp v1/v2 WebSocket endpoint at
// /wisp/ that opens real TCP connections for browser apps, enforcing each
// app's network capabilities, and serves the demo page at /.
//
//	relay -dev                        # development policy, demo echo service
//	relay -config relay.json -listen 0.0.0.0:8080
//
// SIGINT or SIGTERM shut down gracefully; SIGHUP reloads -config without
// dropping sessions.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"syscall"
	"time"

	"github.com/sockshim/sockshim"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/relay"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("relay", flag.ContinueOnError)
	fl.SetOutput(stderr)
	listen := fl.String("listen", "127.0.0.1:8080", "address to serve HTTP and WebSocket on")
	configPath := fl.String("config", "", "app policy file (JSON, see README)")
	dev := fl.Bool("dev", false, "use the embedded development policy and start a loopback echo service for the demo")
	verbose := fl.Bool("v", false, "log every decision (debug level)")
	noResume := fl.Bool("no-resume", false, "do not offer session resume (extension 0x5E)")
	instance := fl.String("instance", "", "this relay's instance id for resumes behind a load balancer ([A-Za-z0-9._-], default random)")
	resumeWindow := fl.Duration("resume-window", 60*time.Second, "how long a session whose WebSocket is lost is held for a resume")
	resumeBuffer := fl.Int("resume-buffer", 2<<20, "bytes of replay buffer per resumable session")
	resumeDeadAfter := fl.Duration("resume-dead-after", 0, "a resumable session's WebSocket with nothing received for this long is lost (0: -peer-timeout)")
	grace := fl.Duration("grace", 5*time.Second, "on SIGINT/SIGTERM, how long sessions get to close before the relay exits")
	handshake := fl.Duration("handshake-timeout", 5*time.Second, "bound on a client's HTTP upgrade request and its Wisp handshake")
	peerTimeout := fl.Duration("peer-timeout", 20*time.Second, "a client that answers no keepalive ping for this long is dropped")
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "Usage: relay -config FILE | -dev [flags]\n\nThe sockshim relay: a Wisp WebSocket endpoint at /wisp/ that opens TCP and UDP\nconnections for the apps in its policy. SIGHUP reloads -config; SIGINT and SIGTERM\nshut down within -grace.\n\nFlags:\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h asked for the usage, which is printed: not an error
		}
		return err
	}
	for name, d := range map[string]time.Duration{"grace": *grace, "handshake-timeout": *handshake, "peer-timeout": *peerTimeout} {
		if d <= 0 {
			return fmt.Errorf("-%s %v: want a positive duration", name, d)
		}
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if !wisp.ValidInstance(*instance) {
		return fmt.Errorf("-instance %q: want at most %d bytes of [A-Za-z0-9._-]", *instance, wisp.MaxInstanceLen)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var cfg *relay.Config
	switch {
	case *configPath != "" && *dev:
		return errors.New("-dev and -config exclude each other")
	case *configPath != "":
		c, err := relay.LoadConfig(*configPath)
		if err != nil {
			return err
		}
		for _, w := range c.Warnings() {
			log.Warn("relay: config: " + w)
		}
		cfg = c
	case *dev:
		cfg = relay.DevConfig()
	default:
		return errors.New("no policy: pass -config FILE, or -dev for the development policy")
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if *dev {
		// Same-host WebRTC for the demo: loopback candidates only.
		cfg.WebRTC = &relay.WebRTCOptions{Loopback: true, UDP4Only: true, Interfaces: []string{"lo"}}
	}
	srv := relay.New(&relay.Options{
		Config: cfg,
		WebRTC: cfg.WebRTC,
		// No stream may loop back into the relay itself.
		SelfAddrs: []netip.AddrPort{ln.Addr().(*net.TCPAddr).AddrPort()},
		Logger:    log,
		Resume: &relay.ResumeOptions{Disabled: *noResume, Instance: *instance, Window: *resumeWindow,
			Buffer: *resumeBuffer, DeadAfter: *resumeDeadAfter},

		HandshakeTimeout: *handshake,
		PeerTimeout:      *peerTimeout,
	})

	mux := http.NewServeMux()
	mux.Handle("/wisp/", srv)
	mux.Handle("/healthz", srv.Handler())
	mux.Handle("GET /metrics", srv.MetricsHandler())
	mux.Handle("/", corsAssets(srv, http.FileServerFS(sockshim.Assets)))

	var echoAddr, udpEchoAddr, tlsAddr, tlsCA, httpAddr string
	if *dev {
		dt, err := startDevTLS()
		if err != nil {
			return err
		}
		defer dt.ln.Close()
		tlsAddr, tlsCA = dt.ln.Addr().String(), dt.caPEM
		log.Info("relay: dev HTTPS-style service", "addr", tlsAddr)
		echo, err := startEcho()
		if err != nil {
			return err
		}
		defer echo.Close()
		echoAddr = echo.Addr().String()
		udpEcho, err := startUDPEcho()
		if err != nil {
			return err
		}
		defer udpEcho.Close()
		udpEchoAddr = udpEcho.LocalAddr().String()
		log.Info("relay: dev echo service", "addr", echoAddr)
		// An HTTP server for the demo's net/http card: the relay refuses to
		// dial its own address, so the page cannot use the relay's.
		devHTTP, err := startDevHTTP()
		if err != nil {
			return err
		}
		defer devHTTP.Close()
		httpAddr = devHTTP.Addr().String()
		log.Info("relay: dev HTTP service", "addr", httpAddr)
	}
	mux.HandleFunc("GET /demo.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"echo": echoAddr, "udpEcho": udpEchoAddr, "tls": tlsAddr, "tlsCA": tlsCA, "http": httpAddr, "dev": *dev})
	})
	if _, err := fs.Stat(sockshim.Assets, "web/main.wasm"); err != nil {
		log.Warn("relay: web/main.wasm is not embedded; the demo page needs `make wasm` before building the relay")
	}

	// A client that never finishes its upgrade request is dropped after
	// the handshake timeout, as one that never sends its Wisp INFO is.
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: *handshake}
	log.Info("relay: instance", "id", srv.Instance())
	fmt.Fprintf(stdout, "sockshim relay listening on http://%s\n", ln.Addr())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	for {
		select {
		case err := <-served:
			return err
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(log, srv, *configPath)
				continue
			}
			log.Info("relay: shutting down", "signal", sig.String(), "grace", *grace)
			// 9/10 of the grace: the relay forces what is left at the
			// deadline and still exits within the grace period.
			ctx, cancel := context.WithTimeout(context.Background(), *grace*9/10)
			defer cancel()
			go hs.Shutdown(ctx) // stops accepting; never waits on hijacked sessions
			err := srv.Shutdown(ctx)
			hs.Close()
			if err != nil {
				return fmt.Errorf("shutdown: sessions still open after the grace period: %w", err)
			}
			log.Info("relay: stopped")
			return nil
		}
	}
}

func reload(log *slog.Logger, srv *relay.Server, path string) {
	if path == "" {
		log.Warn("relay: SIGHUP ignored: no -config file to reload")
		return
	}
	c, err := relay.LoadConfig(path)
	if err != nil {
		log.Error("relay: config reload failed; keeping the previous policy", "err", err)
		return
	}
	for _, w := range c.Warnings() {
		log.Warn("relay: config: " + w)
	}
	if !reflect.DeepEqual(c.WebRTC, srv.Config().WebRTC) {
		log.Warn("relay: config reload: webrtc settings changed; they apply at the next start")
	}
	srv.SetConfig(c)
	log.Info("relay: config reloaded", "apps", len(c.Apps))
}

// startUDPEcho echoes UDP datagrams on a loopback port for the demo page.
func startUDPEcho() (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return pc, nil
}

// startEcho serves TCP echo on a loopback port for the demo page.
// startDevHTTP serves a small HTTP/1.1 page on loopback for the demo.
func startDevHTTP() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello from Go's net/http on %s; you sent %s %s with User-Agent %q\n", r.Host, r.Proto, r.URL.Path, r.UserAgent())
	})
	go (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
	return ln, nil
}

func startEcho() (net.Listener, error) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0).String())
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln, nil
}
