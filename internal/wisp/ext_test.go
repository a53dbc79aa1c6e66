package wisp

import (
	"bytes"
	"testing"
)

// TestNegotiate: both ends build their INFO here and compute the same
// extension set from the two; records only one side sent are off.
func TestNegotiate(t *testing.T) {
	t.Parallel()
	server := ServerInfo(ServerOffer{WebRTC: true, Password: true})
	pw := &Password{User: "app", Password: "secret"}
	client, err := ClientInfo(server, 4096, pw)
	if err != nil {
		t.Fatal(err)
	}
	// Both INFOs survive the wire.
	sp, err := Parse(Append(nil, &Packet{Type: TypeInfo, Info: server}))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := Parse(Append(nil, &Packet{Type: TypeInfo, Info: client}))
	if err != nil {
		t.Fatal(err)
	}
	n, err := Negotiate(sp.Info, cp.Info)
	if err != nil {
		t.Fatal(err)
	}
	if !n.UDP || !n.Sockshim || !n.HalfClose || !n.Listen || !n.ListenCloseAck || !n.Liveness || !n.TCPControl || n.Window != 4096 {
		t.Errorf("negotiated %+v", n)
	}
	if n.Password == nil || *n.Password != *pw {
		t.Errorf("password %+v, want %+v", n.Password, pw)
	}

	// A plain Wisp v2 client advertises nothing: everything is off.
	plain, _ := Negotiate(server, Info{Major: 2})
	if plain != (Negotiated{}) {
		t.Errorf("plain client negotiated %+v", plain)
	}
	// No password offered: none is sent, even if the client has one.
	noPW, _ := ClientInfo(ServerInfo(ServerOffer{}), 4096, pw)
	if _, ok := noPW.Find(ExtPassword); ok {
		t.Error("ClientInfo sent a password the server did not offer")
	}
	// A malformed flow-control record is an error naming the extension.
	bad := Info{Major: 2, Extensions: []Extension{{ID: ExtFlowControl, Payload: []byte{1}}}}
	if _, err := Negotiate(server, bad); err == nil || !bytes.Contains([]byte(err.Error()), []byte("0x55")) {
		t.Errorf("malformed flow control: %v", err)
	}
}
