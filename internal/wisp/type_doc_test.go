//go:build !js

package wisp

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestTypeNamesMatchProtocolDoc: where docs/PROTOCOL.md writes a packet
// extension packet type as "0x8A DATAGRAM_TO", the number's String is that name. (Not in the
// js build: a browser test cannot read the file.)
func TestTypeNamesMatchProtocolDoc(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	matches := regexp.MustCompile(`0x([89][0-9A-F]) ([A-Z][A-Z_]+)\b`).FindAllStringSubmatch(string(doc), -1)
	if len(matches) < 13 {
		t.Fatalf("found %d packet types in PROTOCOL.md, want every extension packet (13)", len(matches))
	}
	for _, m := range matches {
		n, _ := strconv.ParseUint(m[1], 16, 8)
		if got := Type(n).String(); got != m[2] {
			t.Errorf("PROTOCOL.md names 0x%s %s; Type(0x%s).String() = %s", m[1], m[2], m[1], got)
		}
	}
}
