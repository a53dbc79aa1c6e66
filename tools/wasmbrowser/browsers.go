//go:build !js

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/chromedp/cdproto/inspector"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/sockshim/sockshim/internal/bidi"
	"github.com/sockshim/sockshim/internal/syncbuf"
)

// browserRun is a browser showing the runner's page.
type browserRun struct {
	navigated chan error  // the page's load finished (nil) or failed
	lost      chan string // the browser or the page is gone, and why
	out       syncbuf.Buffer
	stop      func()
}

func (b *browserRun) output() string { return b.out.String() }

func (b *browserRun) outWriter(verbose bool) io.Writer {
	if verbose {
		return io.MultiWriter(&b.out, os.Stderr)
	}
	return &b.out
}

// startChromium drives Chromium over the DevTools protocol (chromedp).
func startChromium(o *options, srv *server, url string, logf func(string, ...any)) (*browserRun, error) {
	if st, err := os.Stat(o.chromium); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("Chromium not found at %s (set $CHROMIUM, or run `make deps` / scripts/install-chromium.sh to install it)", o.chromium)
	}
	b := &browserRun{navigated: make(chan error, 1), lost: make(chan string, 1)}
	profile, err := os.MkdirTemp("", "wasmbrowser-profile-")
	if err != nil {
		return nil, err
	}
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(o.chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.UserDataDir(profile),
		chromedp.NoInheritEnv,
		chromedp.Env(browserEnv()...),
		chromedp.CombinedOutput(b.outWriter(o.verbose)),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	ctx, cancel := chromedp.NewContext(actx)
	b.stop = func() {
		cancel()
		acancel()
		os.RemoveAll(profile)
	}

	// Start the browser and the tab, and subscribe before the navigation so
	// that no event is lost.
	started := make(chan error, 1)
	go func() {
		_, err := chromedp.Run(ctx, chromedp.Func(func(context.Context, *chromedp.Target) error { return nil }))
		started <- err
	}()
	select {
	case err := <-started:
		if err != nil {
			b.stop()
			return nil, fmt.Errorf("starting Chromium (%s): %v\n%s", o.chromium, err, b.output())
		}
	case <-time.After(startupLimit):
		b.stop()
		return nil, fmt.Errorf("Chromium (%s) did not start within %v\n%s", o.chromium, startupLimit, b.output())
	}
	logf("chromium started")

	go func() {
		for _, err := range chromedp.Events(ctx, inspector.TargetCrashed) {
			if err != nil {
				return
			}
			b.lose("the page crashed (out of memory?)")
			return
		}
	}()
	go func() {
		for ev, err := range chromedp.Events(ctx, runtime.ExceptionThrown) {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			srv.stderrLine("uncaught exception: %s", text)
		}
	}()
	go func() {
		for ev, err := range chromedp.Events(ctx, cdplog.EntryAdded) {
			if err != nil {
				return
			}
			e := ev.Entry
			if e == nil {
				continue
			}
			msg := fmt.Sprintf("browser %s: %s", e.Level, e.Text)
			if e.URL != "" {
				msg += " (" + e.URL + ")"
			}
			srv.stderrLine("%s", msg)
		}
	}()
	go func() {
		<-ctx.Done()
		b.lose(fmt.Sprintf("lost the browser: %v", context.Cause(ctx)))
	}()
	go func() {
		b.navigated <- chromedp.Do(ctx, chromedp.Navigate(url))
	}()
	return b, nil
}

func (b *browserRun) lose(why string) {
	select {
	case b.lost <- why:
	default:
	}
}

// startFirefox drives Firefox over WebDriver BiDi (internal/bidi). Console
// calls of the page already reach the runner through the page's own output
// queue; the BiDi log adds what the browser itself reports (JavaScript errors,
// failed connections).
func startFirefox(o *options, srv *server, url string, logf func(string, ...any)) (*browserRun, error) {
	b := &browserRun{navigated: make(chan error, 1), lost: make(chan string, 1)}
	// Firefox starts slower than Chromium, much slower on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 3*startupLimit)
	defer cancel()
	ff, err := bidi.Start(ctx, &bidi.Options{Binary: o.firefox, Env: browserEnv(), Output: b.outWriter(o.verbose)})
	if err != nil {
		return nil, fmt.Errorf("starting Firefox: %v\n%s", err, b.output())
	}
	b.stop = func() { ff.Close() }
	logf("firefox started")
	ff.OnLog(func(e bidi.LogEntry) {
		if e.Type == "console" {
			return // the page relays its console itself, in order
		}
		srv.stderrLine("browser %s: %s", e.Level, e.Text)
	})
	go func() {
		<-ff.Done()
		b.lose(fmt.Sprintf("lost the browser: %v", ff.Err()))
	}()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), startupLimit)
		defer cancel()
		b.navigated <- ff.Navigate(ctx, url)
	}()
	return b, nil
}
