//go:build !js

package relay

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/sockshim/sockshim/internal/wisp"
)

var pushClient = &http.Client{Timeout: 15 * time.Second}

// sendPush posts one encrypted, VAPID-signed push message (webpush-go does
// RFC 8291's aes128gcm and RFC 8292's JWT).
func sendPush(ctx context.Context, pc *PushConfig, sub wisp.PushSubscription, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	enc := base64.RawURLEncoding.EncodeToString
	resp, err := webpush.SendNotificationWithContext(ctx, msg, &webpush.Subscription{
		Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: enc(sub.P256dh), Auth: enc(sub.Auth)},
	}, &webpush.Options{
		HTTPClient: pushClient, Subscriber: pc.Subscriber, TTL: 60, Urgency: webpush.UrgencyHigh,
		VAPIDPublicKey: pc.VAPIDPublicKey, VAPIDPrivateKey: pc.VAPIDPrivateKey,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("push service answered %s", resp.Status)
	}
	return nil
}
