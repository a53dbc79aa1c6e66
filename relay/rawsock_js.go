package relay

import "net"

// rawSock is nil on js: no raw sockets, so streams keep their read buffer
// and write through the pump.
type rawSock struct{}

func newRawSock(net.Conn) *rawSock { return nil }

func (w *rawSock) read(int) (int, error)        { return 0, nil }
func (w *rawSock) buf() []byte                  { return nil }
func (w *rawSock) release()                     {}
func (w *rawSock) take() *buffer                { return nil }
func (w *rawSock) tryWrite([]byte) (int, error) { return 0, nil }
