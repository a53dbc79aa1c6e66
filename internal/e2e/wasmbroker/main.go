//go:build js

// Command wasmbroker is the page of internal/e2e's TestBrokerBrowserReload:
// loaded with ?phase=transfer it connects a StreamSocket and binds a
// StreamSocketListener through the relay and transfers both to the broker;
// loaded again (a reload of the same app, ?phase=reclaim) it lists what the
// broker holds and reclaims it. It reports a JSON result in
// document.body.dataset[phase], or an error there prefixed "FAIL: ".
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"syscall/js"
	"time"

	"github.com/sockshim/sockshim/shim"
)

func main() {
	q, _ := url.ParseQuery(js.Global().Get("location").Get("search").String()[1:])
	phase := q.Get("phase")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr := shim.RelayTransport(q.Get("relay"), nil)
	var res any
	var err error
	switch phase {
	case "transfer":
		res, err = transfer(ctx, tr, q.Get("peer"))
	case "reclaim":
		res, err = reclaim(ctx, tr)
	default:
		err = fmt.Errorf("unknown phase %q", phase)
	}
	out := "FAIL: "
	if err == nil {
		b, _ := json.Marshal(res)
		out = string(b)
	} else {
		out += err.Error()
	}
	js.Global().Get("document").Get("body").Get("dataset").Set(phase, out)
	select {} // the page, and its session, live until the test navigates away
}

func transfer(ctx context.Context, tr shim.Transport, peer string) (map[string]string, error) {
	lo, err := shim.NewHostName("127.0.0.1")
	if err != nil {
		return nil, err
	}
	_, port, _ := cut(peer)
	s := shim.NewStreamSocket(tr)
	s.EnableTransferOwnership("chat-task")
	if err := s.Connect(ctx, lo, port); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := s.Write([]byte("hello")); err != nil {
		return nil, err
	}
	// The peer's greeting may or may not have arrived in the page: read
	// none of it, it goes to the broker either way.
	if err := s.TransferOwnership("chat", &shim.TransferOptions{Context: []byte("room 7")}); err != nil {
		return nil, fmt.Errorf("transfer the stream: %w", err)
	}
	l := shim.NewStreamSocketListener(tr)
	if err := l.BindEndpoint(ctx, lo, ""); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	l.EnableTransferOwnership("web-task")
	if err := l.TransferOwnership("web", nil); err != nil {
		return nil, fmt.Errorf("transfer the listener: %w", err)
	}
	return map[string]string{"port": l.Information().LocalPort}, nil
}

func cut(hostport string) (string, string, bool) {
	for i := len(hostport) - 1; i >= 0; i-- {
		if hostport[i] == ':' {
			return hostport[:i], hostport[i+1:], true
		}
	}
	return hostport, "", false
}

func reclaim(ctx context.Context, tr shim.Transport) (map[string]string, error) {
	all, err := shim.AllSockets(ctx, tr)
	if err != nil {
		return nil, fmt.Errorf("AllSockets: %w", err)
	}
	chat, web, away := all["chat"], all["web"], all["web/1"]
	if chat == nil || web == nil || away == nil {
		return nil, fmt.Errorf("AllSockets lists %d sockets, want chat, web and web/1", len(all))
	}
	res := map[string]string{
		"chatKind": chat.SocketKind.String(), "chatReason": chat.Reason.String(),
		"chatContext": string(chat.Context), "chatTask": chat.TaskID,
		"webKind": web.SocketKind.String(), "webReason": web.Reason.String(),
		"awayKind": away.SocketKind.String(), "awayReason": away.Reason.String(), "awayTask": away.TaskID,
	}
	s, err := chat.StreamSocket()
	if err != nil {
		return nil, fmt.Errorf("reclaim chat: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, s)
	s.Close()
	if err != nil {
		return nil, fmt.Errorf("read the reclaimed stream after %d bytes: %w", n, err)
	}
	res["chatSHA256"], res["chatBytes"] = hex.EncodeToString(h.Sum(nil)), fmt.Sprint(n)

	a, err := away.StreamSocket()
	if err != nil {
		return nil, fmt.Errorf("reclaim web/1: %w", err)
	}
	b, err := io.ReadAll(a)
	if err != nil {
		return nil, fmt.Errorf("read web/1: %w", err)
	}
	res["away"] = string(b)
	if _, err := a.Write([]byte("200 from the reloaded page")); err != nil {
		return nil, err
	}
	a.Close()

	l, err := web.StreamSocketListener()
	if err != nil {
		return nil, fmt.Errorf("reclaim web: %w", err)
	}
	res["webPort"] = l.Information().LocalPort
	go func() { // the reclaimed listener accepts again: the test dials it
		defer l.Close()
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("again"))
		c.Close()
	}()
	if _, ok := all["missing"]; ok {
		return nil, errors.New("a socket nobody transferred is listed")
	}
	return res, nil
}
