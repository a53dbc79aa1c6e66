//go:build js

package relay

// WebRTC at the relay needs pion's native ICE agent. A relay built for js
// (the edge) never advertises ExtWebRTC, so clients keep their datagrams on
// the WebSocket; Options.WebRTC is ignored there.

type rtcServer struct{}

type rtcPeer struct{}

func (s *Server) rtcEnabled() bool { return false }

func (s *session) signal([]byte) {}

func (s *session) closeRTC() {}
