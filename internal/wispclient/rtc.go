package wispclient

type rtcClient struct{}

func (s *Session) onSignal(b []byte) {}

func (s *Session) rtcRelease(c *UDPConn) {}

func (s *Session) UseDataChannel(c *UDPConn) {}
