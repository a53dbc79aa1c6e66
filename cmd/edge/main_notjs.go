//go:build !js

// Command edge is the sockshim relay for Cloudflare Workers; it builds only
// as GOOS=js GOARCH=wasm (`make edge`, README "The edge relay").
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "edge: the Cloudflare Workers relay builds with GOOS=js GOARCH=wasm; run `make edge` or `make edge-dev`")
	os.Exit(2)
}
