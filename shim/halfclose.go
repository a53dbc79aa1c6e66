package shim

import (
	"crypto/tls"
)

// CloseWrite shuts down the sending side of the connection, as
// *net.TCPConn.CloseWrite does: the peer reads EOF after everything already
// written, while Read goes on until the peer closes its side. Through a relay
// it uses sockshim's half-close extension (FIN); a relay without it makes
// CloseWrite fail with ErrNotSupported, and Close stays the way to end the
// connection. Over TLS, close_notify is sent first.
func (s *StreamSocket) CloseWrite() error {
	c, err := s.c()
	if err != nil {
		return wrapErr("close write", "", err)
	}
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.CloseWrite(); err != nil {
			return wrapErr("close write", s.addr(), err)
		}
		c = tc.NetConn()
	}
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return wrapErr("close write", s.addr(), errf("half-close on this transport: %w", ErrNotSupported))
	}
	return wrapErr("close write", s.addr(), cw.CloseWrite())
}
