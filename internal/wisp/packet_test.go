package wisp

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	pw, _ := AppendPassword(nil, Password{User: "app", Password: "s3cret"})
	cases := []Packet{
		{Type: TypeConnect, StreamID: 1, StreamType: StreamTCP, Port: 443, Host: "example.com"},
		{Type: TypeConnect, StreamID: 0xfffffffe, StreamType: StreamUDP, Port: 53, Host: "bücher.example"},
		{Type: TypeData, StreamID: 7, Data: []byte("hello")},
		{Type: TypeData, StreamID: 7, Data: []byte{}},
		{Type: TypeContinue, StreamID: 0, Credit: 128},
		{Type: TypeClose, StreamID: 9, Reason: ReasonBlocked},
		{Type: TypeInfo, Info: Info{Major: 2, Minor: 0}},
		{Type: TypeInfo, Info: Info{Major: 2, Minor: 0, Extensions: []Extension{
			{ID: ExtUDP, Payload: []byte{}}, {ID: ExtPassword, Payload: pw}, {ID: ExtMOTD, Payload: []byte("hi")},
		}}},
		{Type: TypeOpened, StreamID: 3, Data: AppendOpened(nil, 3, Opened{
			Remote: netip.MustParseAddrPort("127.0.0.1:7"), Local: netip.MustParseAddrPort("[::1]:40000"),
		})[HeaderLen:]},
	}
	for _, want := range cases {
		b := Append(nil, &want)
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Append(%v)): %v", want.Type, err)
		}
		if want.Type == TypeData && len(want.Data) == 0 {
			want.Data = got.Data // nil vs empty
		}
		if !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Errorf("round trip %v:\n got %+v\nwant %+v", want.Type, got, want)
		}
		if again := Append(nil, &got); !bytes.Equal(again, b) {
			t.Errorf("%v: re-encoding differs: % x vs % x", want.Type, again, b)
		}
	}
}

func normalize(p Packet) Packet {
	for i := range p.Info.Extensions {
		if len(p.Info.Extensions[i].Payload) == 0 {
			p.Info.Extensions[i].Payload = nil
		}
	}
	return p
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	hdr := func(typ Type, id uint32) []byte { return appendHeader(nil, typ, id) }
	long := bytes.Repeat([]byte("a"), MaxHostLen+1)
	cases := map[string][]byte{
		"empty":               {},
		"short header":        {0x02, 0, 0, 0},
		"unknown type":        hdr(0x06, 1),
		"connect no host":     append(hdr(TypeConnect, 1), 1, 80, 0),
		"connect short":       append(hdr(TypeConnect, 1), 1, 80),
		"connect long host":   append(append(hdr(TypeConnect, 1), 1, 80, 0), long...),
		"connect bad utf8":    append(hdr(TypeConnect, 1), 1, 80, 0, 0xff, 0xfe),
		"continue short":      append(hdr(TypeContinue, 1), 1, 2, 3),
		"continue long":       append(hdr(TypeContinue, 1), 1, 2, 3, 4, 5),
		"close empty":         hdr(TypeClose, 1),
		"close long":          append(hdr(TypeClose, 1), 2, 2),
		"info short":          append(hdr(TypeInfo, 0), 2),
		"info on stream":      append(hdr(TypeInfo, 5), 2, 0),
		"info truncated ext":  append(hdr(TypeInfo, 0), 2, 0, 1, 5, 0),
		"info ext overlength": append(hdr(TypeInfo, 0), 2, 0, 1, 9, 0, 0, 0, 1),
		"info ext repeated":   append(hdr(TypeInfo, 0), 2, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0),
	}
	for name, b := range cases {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse(% x) = %v, want ErrMalformed", name, b, err)
		}
	}
}

func TestPasswordRejects(t *testing.T) {
	t.Parallel()
	for _, b := range [][]byte{{}, {1, 0}, {3, 1, 0, 'a'}, {1, 1, 0, 'a', 'b', 'c'}, {1, 0, 0, 0xff}} {
		if _, err := ParsePassword(b); err == nil {
			t.Errorf("ParsePassword(% x) accepted", b)
		}
	}
	if _, err := AppendPassword(nil, Password{User: string(make([]byte, 256))}); err == nil {
		t.Error("AppendPassword accepted a 256-byte user")
	}
}

func TestCloseReasonString(t *testing.T) {
	t.Parallel()
	if got := ReasonBlocked.String(); got != "blocked by policy (0x48)" {
		t.Errorf("ReasonBlocked = %q", got)
	}
	if got := CloseReason(0x77).String(); got != "CloseReason(0x77)" {
		t.Errorf("unknown = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Append(nil, &Packet{Type: TypeConnect, StreamID: 1, StreamType: StreamTCP, Port: 80, Host: "a.example"}))
	f.Add(AppendData(nil, 2, []byte("xyz")))
	f.Add(AppendContinue(nil, 0, 64))
	f.Add(AppendClose(nil, 3, ReasonRefused))
	f.Add(Append(nil, &Packet{Type: TypeInfo, Info: Info{Major: 2, Extensions: []Extension{{ID: ExtUDP}}}}))
	f.Add(AppendOpened(nil, 4, Opened{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		// Round trip: every packet that parses re-encodes to the same bytes.
		if again := Append(nil, &p); !bytes.Equal(again, b) {
			t.Fatalf("Append(Parse(% x)) = % x", b, again)
		}
		if p.Type == TypeOpened {
			if o, err := ParseOpened(p.Data); err == nil {
				if again := AppendOpened(nil, p.StreamID, o); len(again) > len(b) {
					t.Fatalf("OPENED re-encodes longer")
				}
			}
		}
		if e, ok := p.Info.Find(ExtPassword); ok {
			if pw, err := ParsePassword(e.Payload); err == nil {
				if again, _ := AppendPassword(nil, pw); !bytes.Equal(again, e.Payload) {
					t.Fatalf("password round trip differs")
				}
			}
		}
	})
}
