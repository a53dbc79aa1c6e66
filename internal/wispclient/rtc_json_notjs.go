//go:build !js

package wispclient

import "encoding/json"

// The SIGNAL bodies natively: encoding/json, exactly as the relay (pion's
// types) writes and reads them. rtc_json_js.go does the same with the
// browser's JSON, so that the wasm build does not link encoding/json.

func encodeSessionDescription(d sessionDescription) ([]byte, error) {
	return json.Marshal(d)
}

// decodeSessionDescription only decodes; parseSessionDescription checks.
func decodeSessionDescription(b []byte) (sessionDescription, error) {
	var d sessionDescription
	err := json.Unmarshal(b, &d)
	return d, err
}

func encodeICECandidate(c iceCandidateInit) ([]byte, error) {
	return json.Marshal(c)
}

func decodeICECandidate(b []byte) (iceCandidateInit, error) {
	var c iceCandidateInit
	err := json.Unmarshal(b, &c)
	return c, err
}
