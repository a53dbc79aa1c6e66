package shim

// acceptControl holds the StreamSocketListenerControl options that shape
// the connections a listener accepts: their send buffer and hop limit.
// Through a relay they travel with the LISTEN (LISTEN_OPTIONS, sockshim's
// TCP control extension) and the relay sets them on its sockets;
// DirectTransport sets them on its own.
type acceptControl struct {
	sendBuffer option[uint32]
	hopLimit   option[uint8]
}

// OutboundBufferSizeInBytes is the send buffer (SO_SNDBUF) of each accepted
// connection, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamsocketlistenercontrol.outboundbuffersizeinbytes.
// Default 0: the system's default, which the kernel auto-tunes; a set size
// turns auto-tuning off (Linux doubles the size for its bookkeeping and
// clamps it to net.core.wmem_max). Through a relay it is the relay's
// sockets' buffer, not the tunnel's.
func (c *acceptControl) OutboundBufferSizeInBytes() uint32 { return c.sendBuffer.get() }

// SetOutboundBufferSizeInBytes sets the send buffer; set it before Bind.
// A relay without sockshim's TCP control extension cannot take it: Bind
// then fails with ErrNotSupported.
func (c *acceptControl) SetOutboundBufferSizeInBytes(n uint32) { c.sendBuffer.set(n) }

// OutboundUnicastHopLimit is the IP TTL (IPv4) or hop limit (IPv6) of the
// packets of each accepted connection, its SYN-ACK included, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamsocketlistenercontrol.outboundunicasthoplimit.
// Default 0: the system's default (64 on Linux; WinRT's is Windows' 128).
func (c *acceptControl) OutboundUnicastHopLimit() uint8 { return c.hopLimit.get() }

// SetOutboundUnicastHopLimit sets the hop limit, 1-255 (0: the system's);
// set it before Bind. A relay without sockshim's TCP control extension
// cannot take it: Bind then fails with ErrNotSupported.
func (c *acceptControl) SetOutboundUnicastHopLimit(n uint8) { c.hopLimit.set(n) }
