//go:build !js

package relay

import (
	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/wsmsg"
)

// messageReader reads a session's messages: a coder/websocket Conn through
// one reused buffer (wsmsg), any other MessageConn (the edge's) as it is.
func messageReader(c MessageConn) messageReadConn {
	if ws, ok := c.(*websocket.Conn); ok {
		return wsmsg.NewReader(ws)
	}
	return c
}
