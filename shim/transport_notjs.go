//go:build !js

package shim

func defaultTransport() Transport { return DirectTransport(nil) }
