//go:build !js

package main

import (
	"net/http"

	"github.com/sockshim/sockshim/relay"
)

// corsAssets serves the embedded web/ (sockshim.js, its Worker, wasm_exec.js,
// main.wasm) to pages on other origins that the relay's apps admit, so an
// app can `import` the module straight from its relay. Other origins get
// the files without CORS headers, which browsers refuse to run.
func corsAssets(srv *relay.Server, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		if o := r.Header.Get("Origin"); o != "" && srv.AdmitsOrigin(o) {
			w.Header().Set("Access-Control-Allow-Origin", o)
			// Pages that isolate themselves (COEP require-corp) may load it too.
			w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		}
		h.ServeHTTP(w, r)
	})
}
