package shim

import (
	"math/rand"
	"strings"
	"syscall/js"
	"testing"

	"github.com/sockshim/sockshim/internal/policy"
)

// normalizeCorpus is host strings on which the browser build's normalizeHost
// must agree with policy.Normalize (which the test binary may link):
// policy's own cases, IDNA edge cases and, below, generated strings.
var normalizeCorpus = []string{
	"example.com", "Example.COM.", "EXAMPLE.com", "bücher.example", "BÜCHER.example",
	"xn--bcher-kva.example", "XN--BCHER-KVA.example", "ｅｘａｍｐｌｅ．ｃｏｍ", "example。com",
	"_dmarc.example.com", "a-b.example", "1.2.3.4.nip.io", "0x7f.example", "123.example",
	"example.0x7g", "example.0x7f", "localhost", "ｌｏｃａｌｈｏｓｔ", strings.Repeat("a", 63) + ".com",
	"127.0.0.1", "8.8.8.8", "::1", "[::1]", "[2001:DB8::1]", "::ffff:127.0.0.1", "[::ffff:7f00:1]",
	"0:0:0:0:0:0:0:1", "::FFFF:127.0.0.1", "fe80::1", "[fd00:ec2::254]",
	// policy's invalid hosts
	"", "2130706433", "0177.0.0.1", "0x7f.1", "0x7f.0.0.1", "0X7F.0.0.1", "127.1", "127.0.1",
	"0x7f000001", "017700000001", "127.0.0.01", "127.000.000.001", "0177.1", "127.0.0.1.", "127.0.0.0x1",
	"0x", "1.2.3.4.5", "10.0.0.1.", "3232235777", "0xa9.0xfe.0xa9.0xfe", "169.254.43518",
	"１２７.０.０.１", "127。0。0。1", "①②⑦.0.0.1", "127．0．0．1",
	"fe80::1%eth0", "[fe80::1%25eth0]", "[fe80::1%eth0]", "[127.0.0.1]", "[::1", "::1]", "[[::1]]",
	"[localhost]", "localhost:80", "127.0.0.1:80", "::1::2",
	"a..b", ".example.com", "example..com", "example.com..", strings.Repeat("a", 64) + ".com",
	strings.Repeat("a.", 127) + "com", strings.Repeat("x", policy.MaxHostInput+1),
	"exa mple.com", "user@example.com", "example.com/path", "example.com\\x", "example.com#x",
	"example.com?x", "example.com\x00.evil", "\x00", "ex\nample.com", "ex\tample.com", "-bad.com", "bad-.com",
	"\xff\xfe", "xn--", "xn--a.com", "a\u200db.com", "example.com%00", "a b", "-bad-.example",
	// hyphens (UTS 46 CheckHyphens, on the Unicode form of xn-- labels)
	"ab--cd.example", "abc--d.example", "ab--ü.example", "xn--ab---3ra.example", "-ü.example", "ü-.example",
	"xn---tda.example", "xn--tda-.example", "a-.ü.example", "ａｂ－－ｃｄ.example", "ｘｎ－－bcher-kva.example",
	// xn-- labels: bad Punycode, ASCII only, not NFC, disallowed, mapped, non-canonical
	"xn--abc.com", "xn--ab--ssa.com", "xn--zca.de", "xn--fa-hia.de", "xn--a-ecp.ru", "xn--0.com",
	"xn--99999999999.com", "xn--bcher-kva.xn--bcher-kva", "xn--bcher-.example", "xn--bcher-kvaa.example",
	"xn--bcher-KVA.example", "xn--caf-dma.example", "xn--cafe-yvc.example", "xn--ls8h.la", "xn--9hbcd.com",
	"xn--n3h.example", "xn--zca.xn--zca", "xn--1ug.example", "xn--a-pfa.example", "xn--nxa.example",
	// Unicode mapping, deviations, ignored characters, joiners, Bidi
	"ß.de", "faß.de", "ΣΑΣ.gr", "İstanbul.example", "a_b.ü.com", "\ufeffx.com", "\u00adab.com", "\u00ad",
	"a\u200cb.com", "क्\u200dष.com", "نامه\u200cای.com", "ﻣﺜﺎل.example", "مثال.إختبار", "مثال.example",
	"١٢٣.com", "a١.com", "עברית.example", "1עברית.example", "עברית1.example", "a.עברית.b",
	"日本語。ＪＰ", "例え.テスト", "☃.net", "⒈.com", "ａ／ｂ.example", "a＠b.example", "ａ：８０",
	"café.example", "cafe\u0301.example", "\u0301a.example", "ǅ.example", "ﬀ.example", "x\u0000y.example",
	"a.xn--", "a.xn--.b", "xn--.example", "xn--\u05d0-.example", "xn--0\u094dz\uff0d.example",
	"\u0647\u200c0.example", "\u0634\u200c-1.example", "a.b\u3002", "a\uff0e\uff0eb", "\ufffd.example", "\U0001F600.example", "\U000E0001.example",
}

// normalizeAlphabet builds generated hosts: ASCII that matters to the
// mapping and checks, and Unicode that maps, is ignored, joins or is RTL.
var normalizeAlphabet = []string{
	"a", "b", "z", "A", "Z", "0", "1", "9", "x", "n", "xn--", "-", "--", ".", "_", "<", "*", "~",
	"ü", "ß", "Ü", "é", "\u0301", "\u00ad", "\u200c", "\u200d", "\u094d", "क", "ش", "ه", "١", "א",
	"。", "．", "ｘ", "Ａ", "１", "－", "ﬀ", "⒈", "ς", "Σ", "İ", "\ufe0f", "ǅ",
}

func TestNormalizeHostMatchesPolicy(t *testing.T) {
	t.Parallel()
	if maxHostInput != policy.MaxHostInput || maxNameLen != policy.MaxNameLen || maxLabelLen != policy.MaxLabelLen {
		t.Error("normalizeHost's limits differ from policy's")
	}
	// Node's URL (ada) does not apply the Bidi rule to an Arabic-digit
	// label; browsers and x/net/idna do. Such hosts are compared only where
	// the runtime applies it.
	bidiRule := func() (ok bool) {
		defer func() { ok = recover() != nil }()
		js.Global().Get("URL").New("http://١٢٣.com/")
		return false
	}()
	hosts := append([]string(nil), normalizeCorpus...)
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		for n := 1 + r.Intn(12); n > 0; n-- {
			b.WriteString(normalizeAlphabet[r.Intn(len(normalizeAlphabet))])
		}
		hosts = append(hosts, b.String(), b.String()+".example", "a.example."+b.String())
	}
	for _, h := range hosts {
		want, wantAddr, wantErr := policy.Normalize(h)
		got, gotAddr, gotErr := normalizeHost(h)
		if got == want && gotAddr == wantAddr && (gotErr == nil) == (wantErr == nil) {
			continue
		}
		if !bidiRule && hasRTL(h) {
			continue
		}
		if knownDivergence[h] && gotErr != nil && wantErr == nil {
			continue
		}
		t.Errorf("normalizeHost(%+q) = %q, %v, %v; policy.Normalize: %q, %v, %v", h, got, gotAddr, gotErr, want, wantAddr, wantErr)
	}
}

// knownDivergence is where normalizeHost refuses what policy.Normalize
// accepts, because x/net/idna is more lenient than UTS 46 and browsers:
// it decodes an empty xn-- label to an empty label (which Normalize then
// drops as a trailing dot), decodes an xn-- label with non-ASCII in it as
// if those were basic code points, and lets a ZWNJ stand before a
// character that does not join.
var knownDivergence = map[string]bool{
	"a.example.xn--": true, "a.xn--": true,
	"xn--\u05d0-.example": true, "xn--0\u094dz\uff0d.example": true,
	"\u0647\u200c0.example": true, "\u0634\u200c-1.example": true,
}

// hasRTL reports whether h, or the Punycode of one of its labels, has a
// Hebrew or Arabic character.
func hasRTL(h string) bool {
	for _, l := range strings.Split(strings.ToLower(h), ".") {
		if u, ok := punycodeDecode(strings.TrimPrefix(l, "xn--")); ok && strings.HasPrefix(l, "xn--") {
			l = u
		}
		for _, r := range l {
			if r >= 0x0590 && r <= 0x08ff || r >= 0xfb1d && r <= 0xfdff || r >= 0xfe70 && r <= 0xfeff {
				return true
			}
		}
	}
	return false
}

func TestPunycodeDecode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"bcher-kva": "bücher", "zca": "ß", "fa-hia": "faß", "ls8h": "\U0001F4A9", "a-": "a",
		"ihqwcrb4cv8a8dqg056pqjye": "他们为什么不说中文",
		"egbpdaj6bu4bxfgehfvwxn":   "ليهمابتكلموشعربي؟",
	} {
		if got, ok := punycodeDecode(in); !ok || got != want {
			t.Errorf("punycodeDecode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"-abc", "abc-9", "a-!", "99999999999", "zzzzzzzzzzzz"} {
		if got, ok := punycodeDecode(bad); ok {
			t.Errorf("punycodeDecode(%q) = %q, want an error", bad, got)
		}
	}
}
