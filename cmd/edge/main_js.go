//go:build js

// Command edge is the sockshim relay for Cloudflare Workers: the relay
// package compiled to js/wasm and run by github.com/syumai/workers. Each
// request gets a fresh Go instance (the syumai/workers runtime starts one per
// fetch), so one instance serves one Wisp session: the Worker's invocation
// lives as long as the session's WebSocket. README "The edge relay" says what
// works there and what does not.
package main

import (
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall/js"
	"time"

	"github.com/syumai/workers"
	"github.com/syumai/workers/cloudflare"

	"github.com/sockshim/sockshim/relay"
)

// relayName is how clients' errors name this relay.
const relayName = "the edge relay (Cloudflare Workers)"

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, cfgErr := loadConfig(cloudflare.Getenv)
	if cfgErr != nil {
		log.Error("edge: config refused", "err", cfgErr)
		cfg = &relay.Config{}
	}
	srv := relay.New(&relay.Options{
		Config: cfg,
		Logger: log,
		Edge: &relay.EdgeOptions{
			Name:                 relayName,
			Dial:                 dialSocket,
			MaxStreamsPerSession: maxStreamsPerSession,
		},
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if cfgErr != nil {
			http.Error(w, cfgErr.Error(), http.StatusInternalServerError)
			return
		}
		switch {
		case r.URL.Path == "/healthz":
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("ok\n"))
		case strings.HasPrefix(r.URL.Path, "/wisp/"):
			http.Error(w, "Wisp needs a WebSocket upgrade", http.StatusUpgradeRequired)
		default:
			http.Error(w, "sockshim edge relay: Wisp at /wisp/", http.StatusNotFound)
		}
	})
	workers.ServeNonBlock(mux)
	ended := make(chan struct{})
	binding := js.Global().Get("context").Get("binding")
	next := binding.Get("handleRequest")
	handle := js.FuncOf(func(_ js.Value, args []js.Value) any {
		req := arg0(args)
		if cfgErr == nil && isWispUpgrade(req) {
			return upgrade(srv, req, ended)
		}
		return next.Invoke(args[0])
	})
	binding.Set("handleRequest", handle)
	workers.Ready()
	select {
	case <-workers.Done():
	case <-ended:
	}
	// ended may close inside the upgrade callback (a refused upgrade):
	// sleeping hands control back to JS, so the callback returns its
	// Response before the Go program exits.
	time.Sleep(time.Millisecond)
	handle.Release()
}

func isWispUpgrade(req js.Value) bool {
	path := js.Global().Get("URL").New(req.Get("url")).Get("pathname").String()
	up := req.Get("headers").Call("get", "Upgrade")
	return strings.HasPrefix(path, "/wisp/") && up.Type() == js.TypeString && strings.EqualFold(up.String(), "websocket")
}

// upgrade accepts a Wisp WebSocket: syumai/workers cannot return a
// WebSocket, so Go makes the WebSocketPair itself, runs the session on the
// server end and answers 101 with the client end. It runs in the JS
// callback and blocks on nothing.
func upgrade(srv *relay.Server, req js.Value, ended chan struct{}) js.Value {
	r := httpRequest(req)
	if status, text, ok := srv.AdmitUpgrade(r); !ok {
		close(ended)
		init := object.New()
		init.Set("status", status)
		return js.Global().Get("Response").New(text+"\n", init)
	}
	sub := ""
	for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
		if strings.TrimSpace(p) == "wisp-v2" {
			sub = "wisp-v2"
		}
	}
	var client js.Value
	var conn *wsConn
	if err := try(func() {
		pair := js.Global().Get("WebSocketPair").New()
		client = pair.Index(0)
		conn = newWSConn(pair.Index(1), sub, 1<<20+5)
	}); err != nil {
		close(ended) // no session: the instance is done
		init := object.New()
		init.Set("status", http.StatusInternalServerError)
		return js.Global().Get("Response").New("edge: cannot accept the WebSocket: "+err.Error()+"\n", init)
	}
	go func() {
		defer close(ended)
		srv.ServeMessages(conn, r)
	}()
	init := object.New()
	init.Set("status", 101)
	init.Set("webSocket", client)
	if sub != "" {
		h := object.New()
		h.Set("Sec-WebSocket-Protocol", sub)
		init.Set("headers", h)
	}
	return js.Global().Get("Response").New(js.Null(), init)
}

// httpRequest is what the relay reads of the upgrade request: headers, and
// the client's address as Cloudflare reports it.
func httpRequest(req js.Value) *http.Request {
	h := http.Header{}
	it := req.Get("headers").Call("entries")
	for {
		n := it.Call("next")
		if n.Get("done").Bool() {
			break
		}
		kv := n.Get("value")
		h.Add(kv.Index(0).String(), kv.Index(1).String())
	}
	return &http.Request{Method: "GET", Header: h, RemoteAddr: h.Get("CF-Connecting-IP")}
}
