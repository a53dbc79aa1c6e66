//go:build !js

package relay_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/relay"
)

// TestPublicAPIHasNoInternalTypes: a program that imports relay as a
// library can name every type its exported fields, methods and funcs use:
// none comes from an internal/ package.
func TestPublicAPIHasNoInternalTypes(t *testing.T) {
	t.Parallel()
	seen := map[reflect.Type]bool{}
	var check func(where string, typ reflect.Type)
	check = func(where string, typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		if strings.Contains(typ.PkgPath(), "/internal/") {
			t.Errorf("%s: %v is an internal type", where, typ)
			return
		}
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Chan:
			check(where, typ.Elem())
		case reflect.Map:
			check(where, typ.Key())
			check(where, typ.Elem())
		case reflect.Func:
			for i := range typ.NumIn() {
				check(where, typ.In(i))
			}
			for i := range typ.NumOut() {
				check(where, typ.Out(i))
			}
		case reflect.Struct:
			if typ.PkgPath() != "github.com/sockshim/sockshim/relay" {
				return // another package's struct: its own API
			}
			for i := range typ.NumField() {
				if f := typ.Field(i); f.IsExported() {
					check(typ.Name()+"."+f.Name, f.Type)
				}
			}
		}
		if typ.PkgPath() == "github.com/sockshim/sockshim/relay" || typ.Kind() == reflect.Pointer {
			for i := range typ.NumMethod() {
				m := typ.Method(i)
				check(typ.String()+"."+m.Name, m.Type)
			}
		}
	}
	for _, v := range []any{
		relay.Options{}, &relay.Server{}, &relay.Config{}, &relay.AppConfig{}, relay.Limits{},
		&relay.ListenConfig{}, &relay.WebRTCOptions{}, relay.Stats{}, relay.Decision{}, &relay.ConfigError{},
		relay.New, relay.ParseConfig, relay.LoadConfig, relay.DevConfig,
	} {
		check("relay", reflect.TypeOf(v))
	}
}

// TestOnDecision: an embedder's hook sees each decision in relay's own
// terms, after the relay logged and counted it.
func TestOnDecision(t *testing.T) {
	t.Parallel()
	got := make(chan relay.Decision, 16)
	cfg := mustParse(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"]}]}`)
	url, _ := testutil.Relay(t, &relay.Options{Config: cfg, OnDecision: func(d relay.Decision) { got <- d }})
	if _, err := dial(t, url, nil).Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", 7); closeReason(err) != wisp.ReasonBlocked {
		t.Fatalf("loopback without the exemption: %v", err)
	}
	d := <-got
	want := relay.Decision{App: "a", Op: "connect", Reason: "loopback_not_exempt", Host: "127.0.0.1", Port: 7, Addr: netip.MustParseAddr("127.0.0.1")}
	if d != want {
		t.Fatalf("decision %+v, want %+v", d, want)
	}
}
