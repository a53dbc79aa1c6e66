package relay

import "net"

// rawSock is nil on js: no raw sockets, so streams keep their read buffer
// and write through the pump.
type rawSock struct{}

func newRawSock(net.Conn) *rawSock { return nil }

func (w *rawSock) wait() {}

func (w *rawSock) tryWrite([]byte) (int, error) { return 0, nil }
