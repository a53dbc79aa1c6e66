package policy

import "testing"

func TestParsePortRange(t *testing.T) {
	t.Parallel()
	good := map[string]PortRange{"80": {80, 80}, "1": {1, 1}, "65535": {65535, 65535}, "8000-8100": {8000, 8100}, "1-65535": {1, 65535}, "25-25": {25, 25}}
	for s, want := range good {
		r, err := ParsePortRange(s)
		if err != nil || r != want {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v", s, r, err, want)
		}
	}
	for _, s := range []string{"", "0", "65536", "99999", "-1", "+80", " 80", "80 ", "8100-8000", "80-", "-80", "80-90-100", "0x50", "1e3", "080a", "000080", "0-10", "١٢٣"} {
		if r, err := ParsePortRange(s); err == nil {
			t.Errorf("ParsePortRange(%q) = %v, want an error", s, r)
		}
	}
	rs, err := ParsePortRanges(" 80, 443 ,8000-8100")
	if err != nil || len(rs) != 3 || rs[2] != (PortRange{8000, 8100}) {
		t.Errorf("ParsePortRanges = %v, %v", rs, err)
	}
	if rs, err := ParsePortRanges(" "); err != nil || rs != nil {
		t.Errorf("ParsePortRanges(blank) = %v, %v", rs, err)
	}
	if _, err := ParsePortRanges("80,,443"); err == nil {
		t.Error("ParsePortRanges accepted an empty element")
	}
}

func TestPortRules(t *testing.T) {
	t.Parallel()
	var zero *PortRules
	if zero.Allowed(25) || !zero.Allowed(443) || !(&PortRules{}).Allowed(587) || (&PortRules{}).Allowed(25) {
		t.Error("default rules: want only 25 denied")
	}
	r := &PortRules{Allow: []PortRange{{20, 30}}, Deny: []PortRange{{22, 22}}}
	for p, want := range map[uint16]bool{25: true, 20: true, 22: false, 31: false, 443: false} {
		if r.Allowed(p) != want {
			t.Errorf("Allowed(%d) = %v, want %v", p, !want, want)
		}
	}
}

func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"80", "8000-8100", "0", "65536", "1-65535", "-", "80-79"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			return
		}
		if r.Lo < 1 || r.Lo > r.Hi || !r.Contains(r.Lo) || !r.Contains(r.Hi) {
			t.Fatalf("ParsePortRange(%q) = %+v", s, r)
		}
		if r2, err := ParsePortRange(r.String()); err != nil || r2 != r {
			t.Fatalf("round trip %q -> %v -> %q -> %v, %v", s, r, r.String(), r2, err)
		}
	})
}
