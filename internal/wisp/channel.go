package wisp

import (
	"net/netip"
	"sync/atomic"
)

// ChannelLink sends one message on an open WebRTC data channel (ExtWebRTC).
type ChannelLink struct{ Send func([]byte) error }

// DatagramChannel is a UDP stream's WebRTC data channel, the same at both
// ends of a session: while a link is open, datagrams travel on it, one
// message per datagram; a bound stream's message starts with the peer
// endpoint (AppendAddrPort). The zero value has no link; safe for
// concurrent use.
type DatagramChannel struct{ link atomic.Pointer[ChannelLink] }

// Open makes l the stream's link.
func (c *DatagramChannel) Open(l *ChannelLink) { c.link.Store(l) }

// Closed drops l if it is still the stream's link (its channel closed).
func (c *DatagramChannel) Closed(l *ChannelLink) { c.link.CompareAndSwap(l, nil) }

// Detach drops whatever link the stream has (the stream closed).
func (c *DatagramChannel) Detach() { c.link.Store(nil) }

// IsOpen reports whether a link is open.
func (c *DatagramChannel) IsOpen() bool { return c.link.Load() != nil }

// Send sends one datagram on the open link: data alone for a connected
// stream, peer and data for a bound one. False means no link is open or the
// send failed; the caller then sends it as a Wisp packet.
func (c *DatagramChannel) Send(bound bool, peer netip.AddrPort, data []byte) bool {
	l := c.link.Load()
	if l == nil {
		return false
	}
	msg := data
	if bound {
		msg = append(AppendAddrPort(make([]byte, 0, 19+len(data)), peer), data...)
	}
	return l.Send(msg) == nil
}
