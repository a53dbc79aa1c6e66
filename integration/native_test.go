//go:build !js

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/sockshim/sockshim/integration/scenario"
	"github.com/sockshim/sockshim/shim"
)

// relayDialer is a Dialer through a fresh relay.
func relayDialer(t *testing.T) *shim.Dialer {
	return &shim.Dialer{Transport: shim.RelayTransport(startRelay(t), nil), Timeout: 30 * time.Second}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	scenario.Postgres(t, testCtx(t), relayDialer(t), pg.Addr, getCerts(t).Pool)
}

func TestSSH(t *testing.T) {
	t.Parallel()
	s := startSSHD(t)
	scenario.SSH(t, testCtx(t), relayDialer(t), s.Addr, s.User, s.Key, s.HostKey, s.Dir)
}

func TestRedis(t *testing.T) {
	t.Parallel()
	addr := startRedis(t)
	scenario.Redis(t, testCtx(t), relayDialer(t), addr)
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	n := startNginx(t)
	sum := sha256.Sum256(n.Files["/big.bin"])
	scenario.HTTP(t, testCtx(t), relayDialer(t), n.HTTPURL, n.HTTPSURL, getCerts(t).Pool, hex.EncodeToString(sum[:]))
}
