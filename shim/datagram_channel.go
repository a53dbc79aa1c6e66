package shim

// UsesDataChannel reports whether the socket's datagrams travel on a WebRTC
// data channel right now (QualityOfServiceLowLatency through a relay that
// offers WebRTC, once the channel is open); false means the WebSocket, or
// a direct socket.
func (s *DatagramSocket) UsesDataChannel() bool {
	c, err := s.c()
	if err != nil {
		return false
	}
	rd, ok := c.(relayDatagram)
	return ok && rd.c.ChannelOpen()
}
