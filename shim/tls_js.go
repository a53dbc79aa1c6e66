package shim

// A browser gives Go no system root store, so the js build carries the
// Mozilla root set; x509 falls back to it when a pool is nil. Native builds
// use the operating system's roots and do not carry this copy.
import _ "golang.org/x/crypto/x509roots/fallback"
