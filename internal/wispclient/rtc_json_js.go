package wispclient

import (
	"errors"
	"math"
	"strings"
	"syscall/js"
)

// The SIGNAL bodies in a browser: the browser's JSON.stringify and
// JSON.parse instead of encoding/json, which (with the reflection it needs)
// cost the demo bundle about 127 KB gzipped. The bytes are encoding/json's
// (rtc_json_notjs.go), which the relay writes and reads with pion's types:
// the same keys in the same order, null for absent optional fields, and
// encoding/json's escaping (see htmlEscape). Decoding follows
// encoding/json too: unknown keys are ignored, null and absent fields are
// zero (nil for the pointers), a JSON null body is the zero value, and a
// value of the wrong type is an error. Unlike encoding/json, keys must be
// spelt exactly ("type", not "Type"), as the relay spells them, and an
// sdpMLineIndex written as 1e0 or 1.0 is taken as 1.

var (
	jsJSON   = js.Global().Get("JSON")
	jsObject = js.Global().Get("Object")
	jsArray  = js.Global().Get("Array")
)

func encodeSessionDescription(d sessionDescription) ([]byte, error) {
	o := jsObject.New() // Set, not a map: the keys keep their order
	o.Set("type", d.Type)
	o.Set("sdp", d.SDP)
	return stringifyJSON(o)
}

// decodeSessionDescription only decodes; parseSessionDescription checks.
func decodeSessionDescription(b []byte) (sessionDescription, error) {
	const what = "session description"
	var d sessionDescription
	o, err := parseJSONObject(b, what)
	if err != nil || o.IsNull() {
		return d, err
	}
	if d.Type, _, err = jsonString(o, what, "type"); err != nil {
		return d, err
	}
	d.SDP, _, err = jsonString(o, what, "sdp")
	return d, err
}

func encodeICECandidate(c iceCandidateInit) ([]byte, error) {
	o := jsObject.New()
	o.Set("candidate", c.Candidate)
	o.Set("sdpMid", js.Null())
	if c.SDPMid != nil {
		o.Set("sdpMid", *c.SDPMid)
	}
	o.Set("sdpMLineIndex", js.Null())
	if c.SDPMLineIndex != nil {
		o.Set("sdpMLineIndex", int(*c.SDPMLineIndex))
	}
	o.Set("usernameFragment", js.Null())
	if c.UsernameFragment != nil {
		o.Set("usernameFragment", *c.UsernameFragment)
	}
	return stringifyJSON(o)
}

func decodeICECandidate(b []byte) (iceCandidateInit, error) {
	const what = "ICE candidate"
	var c iceCandidateInit
	o, err := parseJSONObject(b, what)
	if err != nil || o.IsNull() {
		return c, err
	}
	if c.Candidate, _, err = jsonString(o, what, "candidate"); err != nil {
		return c, err
	}
	if mid, ok, err := jsonString(o, what, "sdpMid"); err != nil {
		return c, err
	} else if ok {
		c.SDPMid = &mid
	}
	switch v := o.Get("sdpMLineIndex"); v.Type() {
	case js.TypeUndefined, js.TypeNull:
	case js.TypeNumber:
		f := v.Float()
		if f < 0 || f > math.MaxUint16 || f != math.Trunc(f) {
			return c, errors.New("webrtc: " + what + ` field "sdpMLineIndex" is ` + jsString(v) + ", not an integer from 0 to 65535")
		}
		i := uint16(f)
		c.SDPMLineIndex = &i
	default:
		return c, wrongType(v, what, "sdpMLineIndex", "a number")
	}
	if ufrag, ok, err := jsonString(o, what, "usernameFragment"); err != nil {
		return c, err
	} else if ok {
		c.UsernameFragment = &ufrag
	}
	return c, nil
}

// stringifyJSON is JSON.stringify(o) escaped as encoding/json escapes.
func stringifyJSON(o js.Value) ([]byte, error) {
	var s string
	if err := catch(func() { s = jsJSON.Call("stringify", o).String() }); err != nil {
		return nil, err
	}
	return htmlEscape(s), nil
}

// htmlEscape turns JSON.stringify's output into encoding/json's: the two
// escape quotes, backslashes and control characters alike (\b, \f, \n, \r,
// \t, else \u00xx in lower case), but encoding/json also escapes <, > and &
// (HTML safety) and U+2028 and U+2029 (JavaScript line terminators). Such
// characters only ever occur inside JSON strings, so replacing them
// everywhere is safe. (Invalid UTF-8, which encoding/json would write as
// \ufffd byte by byte, never gets here: every string the browser build
// encodes came from JavaScript.)
func htmlEscape(s string) []byte {
	if !strings.ContainsAny(s, "<>&\u2028\u2029") {
		return []byte(s)
	}
	b := make([]byte, 0, len(s)+32)
	for _, r := range s {
		switch r {
		case '<':
			b = append(b, `\u003c`...)
		case '>':
			b = append(b, `\u003e`...)
		case '&':
			b = append(b, `\u0026`...)
		case '\u2028':
			b = append(b, `\u2028`...)
		case '\u2029':
			b = append(b, `\u2029`...)
		default:
			b = append(b, string(r)...)
		}
	}
	return b
}

// parseJSONObject is JSON.parse(b): an object, or null (which encoding/json
// decodes as the zero value).
func parseJSONObject(b []byte, what string) (o js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = errors.New("webrtc: " + what + " is not valid JSON: " + jsString(e.Value))
		}
	}()
	o = jsJSON.Call("parse", string(b))
	switch {
	case o.Type() == js.TypeNull:
	case o.Type() != js.TypeObject:
		err = errors.New("webrtc: " + what + " is a JSON " + o.Type().String() + ", not an object")
	case jsArray.Call("isArray", o).Bool():
		err = errors.New("webrtc: " + what + " is a JSON array, not an object")
	}
	return o, err
}

// jsonString reads a string field of o: "" and false when it is absent or
// null.
func jsonString(o js.Value, what, key string) (string, bool, error) {
	switch v := o.Get(key); v.Type() {
	case js.TypeUndefined, js.TypeNull:
		return "", false, nil
	case js.TypeString:
		return v.String(), true, nil
	default:
		return "", false, wrongType(v, what, key, "a string")
	}
}

func wrongType(v js.Value, what, key, want string) error {
	t := v.Type().String()
	if t == "object" && jsArray.Call("isArray", v).Bool() {
		t = "array"
	}
	return errors.New("webrtc: " + what + ` field "` + key + `" is a JSON ` + t + ", not " + want)
}

func jsString(v js.Value) string { return js.Global().Call("String", v).String() }
