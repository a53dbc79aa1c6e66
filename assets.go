// Package sockshim holds the demo page and browser assets that the relay
// binary embeds. The API is in package shim, the relay in package relay.
package sockshim

import "embed"

// Assets are index.html and web/ (wasm_exec.js and main.wasm are build
// outputs of `make wasm`).
//
//go:embed index.html web
var Assets embed.FS
