//go:build !linux

package main

import "net"

// peerTTL: only Linux tells a TCP server its peer's TTL (-1: unknown).
func peerTTL(net.Conn) int { return -1 }
