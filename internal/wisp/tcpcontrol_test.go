package wisp

import (
	"bytes"
	"testing"
)

func TestTCPControlRoundTrip(t *testing.T) {
	t.Parallel()
	for _, o := range []TCPOptions{{}, {SendBuffer: 4096, HopLimit: 7, Serialize: true}, {HopLimit: 255}} {
		p, err := Parse(AppendConnectOptions(nil, 9, o, "example.com", 443))
		if err != nil || p.Type != TypeConnectOptions || p.StreamID != 9 {
			t.Fatalf("Parse: %+v %v", p, err)
		}
		got, host, port, err := ParseConnectOptions(p.Data)
		if err != nil || got != o || host != "example.com" || port != 443 {
			t.Errorf("ParseConnectOptions = %+v %q %d %v, want %+v", got, host, port, err, o)
		}
	}
	p, _ := Parse(AppendStatsRequest(nil, 3, 0xdeadbeef))
	if n, err := ParseStatsRequest(p.Data); err != nil || n != 0xdeadbeef || p.Type != TypeStatsRequest {
		t.Errorf("ParseStatsRequest = %x %v", n, err)
	}
	st := TCPStats{Nonce: 1, Valid: true, AppLimited: true, RTT: 30, RTTVar: 15, MinRTT: 12, DeliveryRate: 1 << 40,
		BytesAcked: 5, BytesReceived: 6, ElapsedMicros: 7, SendBuffer: 8192}
	p, _ = Parse(AppendStats(nil, 3, st))
	if got, err := ParseStats(p.Data); err != nil || got != st {
		t.Errorf("ParseStats = %+v %v, want %+v", got, err, st)
	}
}

func TestTCPControlReject(t *testing.T) {
	t.Parallel()
	opts := AppendConnectOptions(nil, 1, TCPOptions{}, "h", 1)[HeaderLen:]
	for name, b := range map[string][]byte{
		"short":     opts[:8],
		"no host":   opts[:len(opts)-1],
		"flags":     append(append(append([]byte{}, opts[:5]...), 2), opts[6:]...),
		"bad utf8":  append(append([]byte{}, opts[:8]...), 0xff),
		"long host": append(append([]byte{}, opts[:8]...), bytes.Repeat([]byte{'a'}, MaxHostLen+1)...),
	} {
		if _, _, _, err := ParseConnectOptions(b); err == nil {
			t.Errorf("%s: ParseConnectOptions accepted %x", name, b)
		}
	}
	if _, err := ParseStatsRequest([]byte{1, 2, 3}); err == nil {
		t.Error("ParseStatsRequest accepted 3 bytes")
	}
	st := AppendStats(nil, 1, TCPStats{})[HeaderLen:]
	if _, err := ParseStats(st[:len(st)-1]); err == nil {
		t.Error("ParseStats accepted a short payload")
	}
	st[4] = 4
	if _, err := ParseStats(st); err == nil {
		t.Error("ParseStats accepted unknown flags")
	}
}

// FuzzConnectOptions: whatever parses encodes back to the same bytes.
func FuzzConnectOptions(f *testing.F) {
	f.Add(AppendConnectOptions(nil, 1, TCPOptions{SendBuffer: 1, HopLimit: 2, Serialize: true}, "a.b", 80)[HeaderLen:])
	f.Add([]byte{0, 0, 0, 0, 0, 0, 80, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, host, port, err := ParseConnectOptions(b)
		if err != nil {
			return
		}
		if got := AppendConnectOptions(nil, 1, o, host, port)[HeaderLen:]; !bytes.Equal(got, b) {
			t.Fatalf("round trip %x -> %x", b, got)
		}
	})
}

// FuzzStats: whatever parses encodes back to the same bytes.
func FuzzStats(f *testing.F) {
	f.Add(AppendStats(nil, 1, TCPStats{Valid: true, RTT: 9})[HeaderLen:])
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStats(b)
		if err != nil {
			return
		}
		if got := AppendStats(nil, 1, s)[HeaderLen:]; !bytes.Equal(got, b) {
			t.Fatalf("round trip %x -> %x", b, got)
		}
	})
}

func TestListenOptionsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		o ListenOptions
		l Listen
	}{
		{ListenOptions{}, Listen{}},
		{ListenOptions{SendBuffer: 1 << 20, HopLimit: 9}, Listen{Flags: ListenKeepAlive | ListenNoDelay, Port: 8080, Host: "127.0.0.1"}},
		{ListenOptions{HopLimit: 255}, Listen{Flags: ListenLowLatency, Host: "::1"}},
	} {
		p, err := Parse(AppendListenOptions(nil, 5, tc.o, tc.l))
		if err != nil || p.Type != TypeListenOptions || p.StreamID != 5 {
			t.Fatalf("Parse: %+v %v", p, err)
		}
		o, l, err := ParseListenOptions(p.Data)
		if err != nil || o != tc.o || l != tc.l {
			t.Errorf("ParseListenOptions = %+v %+v %v, want %+v %+v", o, l, err, tc.o, tc.l)
		}
	}
	b := AppendListenOptions(nil, 1, ListenOptions{SendBuffer: 1, HopLimit: 1}, Listen{Port: 1})[HeaderLen:]
	for name, bad := range map[string][]byte{
		"short":     b[:7],
		"flags":     append(append(append([]byte{}, b[:5]...), 8), b[6:]...),
		"bad utf8":  append(append([]byte{}, b...), 0xff),
		"long host": append(append([]byte{}, b...), bytes.Repeat([]byte{'a'}, MaxHostLen+1)...),
	} {
		if _, _, err := ParseListenOptions(bad); err == nil {
			t.Errorf("%s: ParseListenOptions accepted %x", name, bad)
		}
	}
}

// FuzzListenOptions: whatever parses encodes back to the same bytes.
func FuzzListenOptions(f *testing.F) {
	f.Add(AppendListenOptions(nil, 1, ListenOptions{SendBuffer: 4096, HopLimit: 3}, Listen{Flags: ListenNoDelay, Port: 80, Host: "::1"})[HeaderLen:])
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, l, err := ParseListenOptions(b)
		if err != nil {
			return
		}
		if got := AppendListenOptions(nil, 1, o, l)[HeaderLen:]; !bytes.Equal(got, b) {
			t.Fatalf("round trip %x -> %x", b, got)
		}
	})
}
