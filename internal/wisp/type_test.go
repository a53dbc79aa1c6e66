package wisp

import "testing"

// TestTypeString: every packet type prints its docs/PROTOCOL.md name.
func TestTypeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  Type
		want string
	}{
		{TypeConnect, "CONNECT"}, {TypeData, "DATA"}, {TypeContinue, "CONTINUE"},
		{TypeClose, "CLOSE"}, {TypeInfo, "INFO"},
		{TypeOpened, "OPENED"}, {TypeFin, "FIN"}, {TypeGrant, "GRANT"},
		{TypeListen, "LISTEN"}, {TypeListening, "LISTENING"}, {TypeAccepted, "ACCEPTED"},
		{TypeBind, "BIND"}, {TypeDatagram, "DATAGRAM"}, {TypeDatagramTo, "DATAGRAM_TO"},
		{TypeUDPOptions, "UDP_OPTIONS"}, {TypeJoin, "JOIN"}, {TypeUDPResult, "UDP_RESULT"},
		{TypeSignal, "SIGNAL"}, {TypePing, "PING"}, {TypePong, "PONG"},
		{TypeAck, "ACK"}, {TypeSkip, "SKIP"}, {TypeResumeToken, "RESUME_TOKEN"},
		{TypeTransfer, "TRANSFER"}, {TypeTransferred, "TRANSFERRED"}, {TypeUnread, "UNREAD"},
		{TypeList, "LIST"}, {TypeHeld, "HELD"}, {TypeReclaim, "RECLAIM"}, {TypePushSubscribe, "PUSH_SUBSCRIBE"},
		{TypeConnectOptions, "CONNECT_OPTIONS"}, {TypeStatsRequest, "STATS_REQUEST"}, {TypeStats, "STATS"},
		{TypeListenOptions, "LISTEN_OPTIONS"},
		{Type(0x7f), "Type(0x7f)"},
	}
	for _, tt := range tests {
		if got := tt.typ.String(); got != tt.want {
			t.Errorf("Type(0x%02x).String() = %q, want %q", uint8(tt.typ), got, tt.want)
		}
	}
	if len(typeNames) != len(tests)-1 {
		t.Errorf("typeNames has %d types, the table %d: name the new ones here", len(typeNames), len(tests)-1)
	}
}
