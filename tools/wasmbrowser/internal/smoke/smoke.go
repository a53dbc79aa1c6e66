// Package smoke is a tiny package whose tests the self-test of wasmbrowser
// builds for js/wasm and runs in the browser. Its tests pass natively too.
package smoke

// Greeting returns the greeting that the tests print.
func Greeting(name string) string { return "hello, " + name }
