//go:build !js

package integration

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// TestLibraryErrorsKeepTheCause: a relay whose app may not reach loopback
// denies each library's dial, and the library's own error still satisfies
// errors.Is(err, shim.ErrAccessDenied) and is a net.Error, because the
// Dialer returns *net.OpError wrapping the *shim.SocketError.
func TestLibraryErrorsKeepTheCause(t *testing.T) {
	t.Parallel()
	cfg, err := relay.ParseConfig([]byte(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := relay.New(&relay.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
	})
	d := &shim.Dialer{Transport: shim.RelayTransport("ws"+strings.TrimPrefix(hs.URL, "http")+"/wisp/", nil), Timeout: 20 * time.Second}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	ctx := testCtx(t)

	pgCfg, err := pgx.ParseConfig("postgres://postgres@" + addr + "/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	pgCfg.DialFunc = d.DialContext
	_, pgErr := pgx.ConnectConfig(ctx, pgCfg)

	rdb := redis.NewClient(&redis.Options{Addr: addr, Dialer: d.DialContext, MaxRetries: -1})
	defer rdb.Close()
	redisErr := rdb.Ping(ctx).Err()

	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	_, httpErr := (&http.Client{Transport: tr}).Get("http://" + addr + "/")

	for name, err := range map[string]error{"pgx": pgErr, "go-redis": redisErr, "net/http": httpErr} {
		var ne net.Error
		switch {
		case err == nil:
			t.Errorf("%s: reached a loopback address through a relay that denies it", name)
		case !errors.Is(err, shim.ErrAccessDenied):
			t.Errorf("%s: %v (%T) does not satisfy errors.Is(err, shim.ErrAccessDenied)", name, err, err)
		case !errors.As(err, &ne):
			t.Errorf("%s: %v is not a net.Error", name, err)
		default:
			t.Logf("%s: %v", name, err)
		}
	}
}
