//go:build !js

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sockshim/sockshim/internal/bidi"
)

// page is a tab of a headless browser that a test drives: Chromium over the
// DevTools protocol, Firefox over WebDriver BiDi.
type page interface {
	// eval evaluates a JavaScript expression that yields a string.
	eval(expr string) (string, error)
	// poll evaluates expr until it yields a non-empty string.
	poll(expr string) (string, error)
}

// openPage starts browser ("chromium" or "firefox") with a fresh profile and
// loads url in it; the browser stops when the test ends. A missing browser
// skips the test, or fails it when SOCKSHIM_REQUIRE_BROWSER=1.
func openPage(t *testing.T, browser, url string) page {
	t.Helper()
	ctx := ctxT(t, 90*time.Second)
	switch browser {
	case "firefox":
		_, err := firefoxPath()
		require(t, "SOCKSHIM_REQUIRE_BROWSER", err)
		b, err := bidi.Start(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		if err := b.Navigate(ctx, url); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		return &bidiPage{ctx, b}
	default:
		chromium, err := chromiumPath()
		require(t, "SOCKSHIM_REQUIRE_BROWSER", err)
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.NoFirstRun, chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
			chromedp.Flag("allow-loopback-in-peer-connection", true),
			chromedp.UserDataDir(t.TempDir()),
		)
		actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
		t.Cleanup(acancel)
		cctx, cancel := chromedp.NewContext(actx)
		t.Cleanup(cancel)
		if err := chromedp.Do(cctx, chromedp.Navigate(url)); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		return cdpPage{cctx}
	}
}

type cdpPage struct{ ctx context.Context }

func (p cdpPage) eval(expr string) (string, error) {
	return chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
}

func (p cdpPage) poll(expr string) (string, error) {
	return chromedp.Run(p.ctx, chromedp.Poll[string](expr))
}

type bidiPage struct {
	ctx context.Context
	b   *bidi.Browser
}

func (p *bidiPage) eval(expr string) (string, error) {
	var s string
	err := p.b.Evaluate(p.ctx, expr, &s)
	return s, err
}

func (p *bidiPage) poll(expr string) (string, error) {
	var s string
	err := p.b.Poll(p.ctx, expr, &s)
	return s, err
}
