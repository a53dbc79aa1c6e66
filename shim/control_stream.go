package shim

// connectControl holds the StreamSocketControl options that shape the real
// connection: its send buffer, its hop limit and how its addresses are
// tried. Through a relay they travel with the CONNECT (sockshim's TCP
// control extension) and the relay sets them on its socket; DirectTransport
// sets them on its own.
type connectControl struct {
	sendBuffer option[uint32]
	hopLimit   option[uint8]
	serialize  option[bool]
}

// OutboundBufferSizeInBytes is the send buffer (SO_SNDBUF) of the real TCP
// socket, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamsocketcontrol.outboundbuffersizeinbytes.
// Default 0: the system's default, which the kernel auto-tunes; a set size
// turns auto-tuning off (Linux doubles the size for its bookkeeping and
// clamps it to net.core.wmem_max). Through a relay it is the relay's
// socket's buffer, not the tunnel's.
func (c *connectControl) OutboundBufferSizeInBytes() uint32 { return c.sendBuffer.get() }

// SetOutboundBufferSizeInBytes sets the send buffer; set it before Connect.
// A relay without sockshim's TCP control extension (a plain Wisp server)
// cannot take it: Connect then fails with ErrNotSupported.
func (c *connectControl) SetOutboundBufferSizeInBytes(n uint32) { c.sendBuffer.set(n) }

// OutboundUnicastHopLimit is the IP TTL (IPv4) or hop limit (IPv6) of the
// real connection's packets, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamsocketcontrol.outboundunicasthoplimit.
// Default 0: the system's default (64 on Linux; WinRT's is Windows' 128).
func (c *connectControl) OutboundUnicastHopLimit() uint8 { return c.hopLimit.get() }

// SetOutboundUnicastHopLimit sets the hop limit, 1-255 (0: the system's);
// set it before Connect. A relay without sockshim's TCP control extension
// cannot take it: Connect then fails with ErrNotSupported.
func (c *connectControl) SetOutboundUnicastHopLimit(n uint8) { c.hopLimit.set(n) }

// SerializeConnectionAttempts reports whether a host name's addresses are
// tried one at a time, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamsocketcontrol.serializeconnectionattempts.
// Default false: attempts overlap (Happy Eyeballs, RFC 8305: address
// families alternate, a new attempt starts every 250 ms or as soon as the
// previous one failed, the first connection wins and the others are
// dropped). True: at most one attempt at a time, each address after the
// previous one failed, so the server never sees a second connection.
func (c *connectControl) SerializeConnectionAttempts() bool { return c.serialize.get() }

// SetSerializeConnectionAttempts sets it; set it before Connect. A relay
// without sockshim's TCP control extension cannot take true: Connect then
// fails with ErrNotSupported (such a relay dials as it likes).
func (c *connectControl) SetSerializeConnectionAttempts(v bool) { c.serialize.set(v) }

// streamOptions is what a transport needs from the control to dial.
type streamOptions struct {
	sendBuffer uint32
	hopLimit   uint8
	serialize  bool
}

func (c *connectControl) streamOptions() streamOptions {
	return streamOptions{sendBuffer: c.sendBuffer.get(), hopLimit: c.hopLimit.get(), serialize: c.serialize.get()}
}

func (o streamOptions) isZero() bool { return o == streamOptions{} }
