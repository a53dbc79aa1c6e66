//go:build !js

package shim_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// pushRecord is one push message as the test's push service received it.
type pushRecord struct {
	auth string
	body []byte
}

// decryptPush undoes RFC 8291 (aes128gcm, RFC 8188) with the
// subscription's private key and auth secret.
func decryptPush(t *testing.T, ua *ecdh.PrivateKey, authSecret, body []byte) []byte {
	t.Helper()
	if len(body) < 21 {
		t.Fatalf("push body of %d bytes", len(body))
	}
	salt, idlen := body[:16], int(body[20])
	rs := binary.BigEndian.Uint32(body[16:20])
	asPub, ct := body[21:21+idlen], body[21+idlen:]
	if uint32(len(ct)) > rs {
		t.Fatalf("one record expected: %d bytes, record size %d", len(ct), rs)
	}
	as, err := ecdh.P256().NewPublicKey(asPub)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := ua.ECDH(as)
	if err != nil {
		t.Fatal(err)
	}
	info := append(append([]byte("WebPush: info\x00"), ua.PublicKey().Bytes()...), asPub...)
	ikm, err := hkdf.Key(sha256.New, secret, authSecret, string(info), 32)
	if err != nil {
		t.Fatal(err)
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	blk, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(blk)
	pt, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		t.Fatalf("push message does not decrypt with the subscription's keys: %v", err)
	}
	// The last record: the content, a 0x02 delimiter, zero padding.
	end := len(pt) - 1
	for end >= 0 && pt[end] == 0 {
		end--
	}
	if end < 0 || pt[end] != 2 {
		t.Fatal("push record without its 0x02 delimiter")
	}
	return pt[:end]
}

// checkVAPID verifies the Authorization header: "vapid t=<JWT>, k=<key>",
// k the app's VAPID public key and the JWT ES256-signed by it, for the
// push service's origin.
func checkVAPID(t *testing.T, header, pubB64, origin string) {
	t.Helper()
	tok, key, ok := strings.Cut(strings.TrimPrefix(header, "vapid t="), ", k=")
	if !ok || !strings.HasPrefix(header, "vapid t=") || key != strings.TrimRight(pubB64, "=") {
		t.Fatalf("Authorization %q, want vapid t=..., k=%s", header, pubB64)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("VAPID JWT %q", tok)
	}
	pub, _ := base64.RawURLEncoding.DecodeString(key)
	x, y := elliptic.Unmarshal(elliptic.P256(), pub)
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if x == nil || len(sig) != 64 || !ecdsa.Verify(&ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}, h[:],
		new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("VAPID JWT signature does not verify with the app's public key")
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct{ Aud, Sub string }
	json.Unmarshal(claims, &c)
	if c.Aud != origin || c.Sub != "mailto:ops@app.example" {
		t.Fatalf("VAPID claims %s, want aud %s", claims, origin)
	}
}

// TestBrokerWebPushActivation: the app registers a push subscription and
// transfers a socket; data arriving while it is away sends one push
// (SocketActivity), more data none within the interval, the peer's close
// another (SocketClosed). The test's push service decrypts each with the
// subscription's private key and checks the VAPID signature.
func TestBrokerWebPushActivation(t *testing.T) {
	t.Parallel()
	got := make(chan pushRecord, 8)
	pushSvc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Encoding") != "aes128gcm" {
			http.Error(w, "want aes128gcm", http.StatusBadRequest)
		}
		got <- pushRecord{auth: r.Header.Get("Authorization"), body: b}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(pushSvc.Close)
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	_, proxy, url, srv := brokerRelay(t, relay.BrokerConfig{Push: &relay.PushConfig{
		VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subscriber: "ops@app.example", // webpush-go adds "mailto:"
		Endpoints: []string{pushSvc.URL + "/push/"},
	}})

	step := make(chan struct{})
	peer := testutil.Serve(t, func(c net.Conn) {
		defer c.Close()
		wait := func() bool { // a failed test never sends the next step
			select {
			case <-step:
				return true
			case <-time.After(time.Minute):
				return false
			}
		}
		if !wait() {
			return
		}
		c.Write([]byte("first"))
		if !wait() {
			return
		}
		c.Write([]byte("second"))
		wait()
	})
	tab := shim.RelayTransport(url, nil)
	ua, _ := ecdh.P256().GenerateKey(rand.Reader)
	authSecret := make([]byte, 16)
	rand.Read(authSecret)
	if err := shim.SetPushSubscription(ctxT(t), tab, &shim.PushSubscription{Endpoint: "http://elsewhere.example/", P256dh: ua.PublicKey().Bytes(), Auth: authSecret}); !errors.Is(err, shim.ErrAccessDenied) {
		t.Fatalf("a push endpoint outside the config: %v, want ErrAccessDenied", err)
	}
	if err := shim.SetPushSubscription(ctxT(t), tab, &shim.PushSubscription{Endpoint: pushSvc.URL + "/push/sub1", P256dh: ua.PublicKey().Bytes(), Auth: authSecret}); err != nil {
		t.Fatal(err)
	}
	s := shim.NewStreamSocket(tab)
	s.EnableTransferOwnership("bg-task")
	if err := s.Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(peer.Port)); err != nil {
		t.Fatal(err)
	}
	if err := s.TransferOwnership("chat", nil); err != nil {
		t.Fatal(err)
	}
	closeTab(t, proxy, srv)

	type msg struct{ SocketID, Kind, Reason, TaskID string }
	next := func() msg {
		t.Helper()
		select {
		case r := <-got:
			checkVAPID(t, r.auth, pub, pushSvc.URL)
			var m msg
			if err := json.Unmarshal(decryptPush(t, ua, authSecret, r.body), &m); err != nil {
				t.Fatal(err)
			}
			return m
		case <-time.After(30 * time.Second):
			t.Fatal("no push message in 30 s")
		}
		return msg{}
	}
	step <- struct{}{}
	if m := next(); m != (msg{"chat", "StreamSocket", "SocketActivity", "bg-task"}) {
		t.Fatalf("first push: %+v", m)
	}
	step <- struct{}{}
	step <- struct{}{}
	if m := next(); m.Reason != "SocketClosed" || m.SocketID != "chat" {
		t.Fatalf("second push: %+v, want SocketClosed (no second SocketActivity within the interval)", m)
	}
	page := shim.RelayTransport(url, nil)
	info := allSockets(t, page)["chat"]
	if info == nil || info.Reason != shim.TriggerReasonSocketClosed {
		t.Fatalf("AllSockets: %+v", info)
	}
	r, err := info.StreamSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, err := io.ReadAll(r); err != nil || string(b) != "firstsecond" {
		t.Fatalf("reclaimed %q, %v", b, err)
	}
	select {
	case r := <-got:
		t.Fatalf("an extra push: %d bytes", len(r.body))
	default:
	}
}
