//go:build js

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"syscall/js"
	"time"

	"github.com/sockshim/sockshim/shim"
)

// httpBodyLimit bounds the body httpGet hands to JavaScript.
const httpBodyLimit = 4 << 10

// httpGet fetches a URL with Go's net/http in the wasm, over real TCP
// through the relay (shim.Dialer): no fetch(), so no CORS and any port. A
// Transport with DialContext set never takes js net/http's fetch path.
func (b *bridge) httpGet(a js.Value) (any, error) {
	url := a.Get("url").String()
	d := &shim.Dialer{Transport: b.transport, Timeout: 10 * time.Second}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("http.get %q: %v: %w", url, err, shim.ErrInvalidArgument)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, httpBodyLimit))
	if err != nil {
		return nil, err
	}
	o := jsObject.New()
	o.Set("status", resp.StatusCode)
	o.Set("statusText", resp.Status)
	o.Set("proto", resp.Proto)
	o.Set("contentType", resp.Header.Get("Content-Type"))
	o.Set("body", string(body))
	return o, nil
}
