//go:build js

package relay

import (
	"context"
	"errors"

	"github.com/sockshim/sockshim/internal/wisp"
)

// sendPush: the js build (the edge relay) has no broker, so nothing calls
// it; it links no Web Push library.
func sendPush(context.Context, *PushConfig, wisp.PushSubscription, []byte) error {
	return errors.New("relay: no Web Push in the js build")
}
