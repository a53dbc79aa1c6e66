package shim

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// Transport carries sockets: DirectTransport uses the operating system's
// sockets, RelayTransport tunnels them through a sockshim (or any Wisp)
// relay. Sockets with a nil Transport use DefaultTransport.
type Transport interface {
	dialStream(ctx context.Context, host *HostName, port uint16) (net.Conn, error)
	// listenStream binds a TCP listener on host (an IP literal; "" for the
	// transport's default) and port (0: any); listener.go.
	listenStream(ctx context.Context, host string, port uint16, o listenOptions) (streamListener, error)
	datagram(ctx context.Context, req *datagramRequest) (datagramConn, error)
	String() string
}

// DefaultTransport is the transport of sockets that name none. Natively it is
// DirectTransport(nil); in a browser (GOOS=js) it is RelayTransport for the
// page's own origin + "/wisp/".
var DefaultTransport Transport = defaultTransport()

// DirectOptions configure DirectTransport: the capabilities the local policy
// grants, as an app manifest would.
type DirectOptions struct {
	// Capabilities the program declares; nil means all three
	// (internetClient, internetClientServer, privateNetworkClientServer).
	Capabilities []string
	// DenyLoopback removes the loopback exemption a native program has by
	// default.
	DenyLoopback bool
}

// RelayOptions configure RelayTransport.
type RelayOptions struct {
	// AppID and Secret are the app credential registered in the relay's
	// config; sent in the Wisp v2 password extension. Empty means an
	// anonymous app chosen by the page's origin.
	AppID, Secret string
	// Header is sent with the WebSocket handshake natively (for example an
	// Origin); browsers ignore it.
	Header http.Header
	// WispV1 speaks Wisp v1 only: no credential, no extensions.
	WispV1 bool
}

// RelayTransport tunnels sockets through the Wisp relay at url (ws:// or
// wss://, ending in "/"). Sockets share one WebSocket session, which is
// re-established on the next Connect after it is lost.
func RelayTransport(url string, opts *RelayOptions) Transport {
	t := &relayTransport{url: url}
	if opts != nil {
		t.opts = *opts
	}
	return t
}

type relayTransport struct {
	url  string
	opts RelayOptions

	mu   sync.Mutex
	sess *wispclient.Session
}

func (t *relayTransport) String() string { return "relay " + t.url }

func (t *relayTransport) session(ctx context.Context) (*wispclient.Session, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sess != nil {
		select {
		case <-t.sess.Done():
			t.sess = nil
		default:
			return t.sess, nil
		}
	}
	s, err := wispclient.Dial(ctx, t.url, &wispclient.Options{
		AppID: t.opts.AppID, Secret: t.opts.Secret, Header: t.opts.Header, V1: t.opts.WispV1,
	})
	if err != nil {
		return nil, err
	}
	t.sess = s
	return s, nil
}

func (t *relayTransport) dialStream(ctx context.Context, host *HostName, port uint16) (net.Conn, error) {
	s, err := t.session(ctx)
	if err != nil {
		return nil, err
	}
	return s.Open(ctx, wisp.StreamTCP, host.CanonicalName(), port)
}

func joinHostService(h *HostName, service string) string {
	if h == nil {
		return service
	}
	return net.JoinHostPort(h.CanonicalName(), service)
}

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }
