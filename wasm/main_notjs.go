//go:build !js

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "wasm: this is the browser build of sockshim; build it with GOOS=js GOARCH=wasm (make wasm)")
	os.Exit(2)
}
