package shim

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// SocketMessageType is the type of a WebSocket message, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.socketmessagetype.
// The zero value is Binary, WinRT's default, so a zero Control sends binary
// messages.
type SocketMessageType uint8

const (
	MessageTypeBinary SocketMessageType = iota
	MessageTypeUtf8
)

func (t SocketMessageType) String() string {
	switch t {
	case MessageTypeBinary:
		return "Binary"
	case MessageTypeUtf8:
		return "Utf8"
	}
	return fmt.Sprintf("SocketMessageType(%d)", uint8(t))
}

func (t SocketMessageType) coder() websocket.MessageType {
	if t == MessageTypeUtf8 {
		return websocket.MessageText
	}
	return websocket.MessageBinary
}

func messageTypeOf(t websocket.MessageType) SocketMessageType {
	if t == websocket.MessageText {
		return MessageTypeUtf8
	}
	return MessageTypeBinary
}

// MessageWebSocketReceiveMode says whether MessageReceived fires once per
// message or once per fragment, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.messagewebsocketreceivemode.
// The zero value is FullMessage, WinRT's default.
type MessageWebSocketReceiveMode uint8

const (
	ReceiveModeFullMessage MessageWebSocketReceiveMode = iota
	ReceiveModePartialMessage
)

func (m MessageWebSocketReceiveMode) String() string {
	switch m {
	case ReceiveModeFullMessage:
		return "FullMessage"
	case ReceiveModePartialMessage:
		return "PartialMessage"
	}
	return fmt.Sprintf("MessageWebSocketReceiveMode(%d)", uint8(m))
}

// PasswordCredential is a user name and password, mirroring
// https://learn.microsoft.com/uwp/api/windows.security.credentials.passwordcredential.
// WebSockets send it with HTTP Basic authentication.
type PasswordCredential struct {
	Resource, UserName, Password string
}

func (c *PasswordCredential) basic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.UserName+":"+c.Password))
}

// BandwidthStatistics estimates a connection's throughput, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.bandwidthstatistics.
// For a WebSocket sockshim reports the average since the connection opened;
// for a StreamSocket, the real connection's figures that
// StreamSocket.RefreshInformation describes.
type BandwidthStatistics struct {
	OutboundBitsPerSecond, InboundBitsPerSecond                       uint64
	OutboundBitsPerSecondInstability, InboundBitsPerSecondInstability uint64
	OutboundBandwidthPeaked, InboundBandwidthPeaked                   bool
}

// WebSocketControl holds the options MessageWebSocket and StreamWebSocket
// share, mirroring the common part of
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.messagewebsocketcontrol
// and
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamwebsocketcontrol.
// Set them before Connect. TLS options (wss://) come from the embedded
// TLS control: SetIgnorableServerCertificateErrors, SetClientCertificate,
// SetTrustedRoots.
type WebSocketControl struct {
	protocols   listOption[string]
	serverCred  option[*PasswordCredential]
	proxyCred   option[*PasswordCredential]
	outboundBuf option[uint32]
	probe       option[bool]

	tlsControl
}

// SupportedProtocols returns the subprotocols offered in
// Sec-WebSocket-Protocol, in order of preference. Default none.
func (c *WebSocketControl) SupportedProtocols() []string { return c.protocols.get() }

// SetSupportedProtocols sets the subprotocols to offer.
func (c *WebSocketControl) SetSupportedProtocols(p ...string) { c.protocols.set(p) }

// ServerCredential returns the credential sent to the server (HTTP Basic).
// Default nil.
func (c *WebSocketControl) ServerCredential() *PasswordCredential { return c.serverCred.get() }

// SetServerCredential sets the credential sent to the server.
func (c *WebSocketControl) SetServerCredential(p *PasswordCredential) { c.serverCred.set(p) }

// ProxyCredential returns the credential for an HTTP proxy. Default nil.
func (c *WebSocketControl) ProxyCredential() *PasswordCredential { return c.proxyCred.get() }

// SetProxyCredential sets the credential sent (Proxy-Authorization, HTTP
// Basic) to an HTTP proxy. Natively, with DirectTransport, the proxy comes
// from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY); through a
// relay no proxy is used and the credential is never sent.
func (c *WebSocketControl) SetProxyCredential(p *PasswordCredential) { c.proxyCred.set(p) }

// OutboundBufferSizeInBytes returns the send buffer's size. Natively and
// over the tunnelled RFC 6455 path (see the package doc) it is the largest
// frame sent: longer messages go out as several frames; default 0, one
// frame per message. Over the browser's own WebSocket, which frames
// messages itself, it bounds the bytes the browser may hold unsent
// (WebSocket.bufferedAmount): Send waits, honouring its context, until
// the message fits under it (a message larger than the bound waits for
// an empty buffer and goes alone); 0 means DefaultOutboundBufferSize.
func (c *WebSocketControl) OutboundBufferSizeInBytes() uint32 { return c.outboundBuf.get() }

// SetOutboundBufferSizeInBytes sets the send buffer's size. Set it before
// Connect.
func (c *WebSocketControl) SetOutboundBufferSizeInBytes(n uint32) { c.outboundBuf.set(n) }

// DefaultOutboundBufferSize is the browser WebSocket's send bound when
// OutboundBufferSizeInBytes is 0: 1 MiB.
const DefaultOutboundBufferSize = 1 << 20

// ProbeRefusedHandshake reports whether a refused handshake on the
// browser's own WebSocket is followed by a fetch of the same URL to learn
// an HTTP status. Default false.
func (c *WebSocketControl) ProbeRefusedHandshake() bool { return c.probe.get() }

// SetProbeRefusedHandshake opts in to the probe: a browser hides the
// status of a refused WebSocket handshake from script, so when it fails,
// sockshim fetches the URL (http:// for ws://, https:// for wss://; a
// plain GET in CORS mode with same-origin credentials, no redirects
// followed, 10 s at most) and, when the page may read the answer
// (same-origin, or the server allows it with CORS) and the answer is an
// HTTP error other than 426 Upgrade Required, reports that status. It is
// the status of that GET, not of the handshake itself: the error says so.
// Natively and over the tunnelled path the handshake's own status is
// always known and this option does nothing.
func (c *WebSocketControl) SetProbeRefusedHandshake(on bool) { c.probe.set(on) }

// WebSocketInformation describes a connected MessageWebSocket or
// StreamWebSocket, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.messagewebsocketinformation
// and
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamwebsocketinformation.
// When the browser's own WebSocket carries the connection (see the package
// doc), LocalAddress and the certificate fields are empty.
type WebSocketInformation struct {
	// Protocol is the subprotocol the server chose ("" for none).
	Protocol            string
	LocalAddress        *HostName
	BandwidthStatistics BandwidthStatistics

	ServerCertificate              *x509.Certificate
	ServerIntermediateCertificates []*x509.Certificate
	ServerCertificateErrors        []ChainValidationResult
	ServerCertificateErrorSeverity SocketSslErrorSeverity
}

// WebSocketClosedEventArgs is what the Closed callback receives, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.websocketclosedeventargs.
// Code is 1006 (abnormal closure) when the connection ended without a
// close frame. Over the browser's own WebSocket, Code, Reason and WasClean
// are the browser's close event's (see the README's browser support table
// for where Chromium and Firefox differ).
type WebSocketClosedEventArgs struct {
	Code   uint16
	Reason string
	// WasClean reports a closing handshake. Over the browser's WebSocket it
	// is the close event's wasClean: close frames went both ways and the
	// connection then closed cleanly (false when this side closed and the
	// event did not come within 5 s). Natively and over the tunnelled path
	// it is true when a close frame arrived or this side sent one, that
	// is, whenever Code is not 1006.
	WasClean bool
}

// closeReporter is a wsConn that knows how the connection ended better
// than its errors say: the browser's close event.
type closeReporter interface {
	closedEvent() (WebSocketClosedEventArgs, bool)
}

// closeChecker is a wsConn that refuses some close codes or reasons
// before the socket is closed (a browser accepts only 1000 and 3000-4999
// from script).
type closeChecker interface {
	checkClose(code uint16, reason string) error
}

// messageSender is a wsConn that sends whole messages itself (the
// browser's WebSocket: it frames, and Send waits on bufferedAmount).
type messageSender interface {
	sendMessage(ctx context.Context, typ websocket.MessageType, p []byte) error
}

// wholeMessages is a wsConn that only ever has whole messages to give
// (the browser's WebSocket), so PartialMessage mode delivers them whole.
type wholeMessages interface {
	wholeMessages()
}

// wsConn is what a WebSocket needs from an implementation:
// *websocket.Conn (natively and over the browser's WebSocket) and
// rfc6455Conn (a client over a tunnelled StreamSocket in the browser).
type wsConn interface {
	Reader(ctx context.Context) (websocket.MessageType, io.Reader, error)
	Writer(ctx context.Context, typ websocket.MessageType) (io.WriteCloser, error)
	Close(code websocket.StatusCode, reason string) error
	CloseNow() error
	Subprotocol() string
	SetReadLimit(n int64)
}

// wsDialParams is one Connect's request.
type wsDialParams struct {
	url        *url.URL
	header     http.Header
	protocols  []string
	serverCred *PasswordCredential
	proxyCred  *PasswordCredential
	tls        *tlsControl
	transport  Transport
	// rfc6455 asks for sockshim's RFC 6455 client over a StreamSocket
	// natively too (the browser build decides by browserCan).
	rfc6455   bool
	sendBound uint32 // the browser's WebSocket: OutboundBufferSizeInBytes
	probe     bool   // the browser's WebSocket: ProbeRefusedHandshake
}

// testRFC6455 reports whether a test asked w to use the RFC 6455 client
// natively (websocket_export_test.go sets it); nil outside tests, so no
// production struct carries the hook.
var testRFC6455 func(w *webSocket) bool

// wsDialed is a connected WebSocket.
type wsDialed struct {
	conn  wsConn
	count *countConn // nil over the browser's WebSocket
	res   *tlsResult // nil without TLS
	local *HostName
}

// webSocket is the machinery MessageWebSocket and StreamWebSocket share.
type webSocket struct {
	Transport Transport

	mu       sync.Mutex
	header   http.Header
	dialed   *wsDialed
	openedAt time.Time
	closed   bool
	onClosed func(WebSocketClosedEventArgs)
	closeEv  sync.Once
}

func (w *webSocket) setRequestHeader(name, value string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.header == nil {
		w.header = http.Header{}
	}
	w.header.Set(name, value)
}

func (w *webSocket) connect(ctx context.Context, uri string, ctl *WebSocketControl) (*wsDialed, error) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, &WebSocketError{Op: "connect", URL: uri, Err: errf("not a ws:// or wss:// URI: %w", ErrInvalidArgument)}
	}
	w.mu.Lock()
	if w.closed || w.dialed != nil {
		w.mu.Unlock()
		return nil, &WebSocketError{Op: "connect", URL: uri, Status: WebErrorOperationCanceled, Err: errAlreadyConnected}
	}
	p := &wsDialParams{url: u, header: w.header.Clone(), transport: w.Transport, tls: new(tlsControl),
		sendBound: ctl.outboundBuf.get(), probe: ctl.probe.get()}
	p.rfc6455 = testRFC6455 != nil && testRFC6455(w)
	w.mu.Unlock()
	if p.header == nil {
		p.header = http.Header{}
	}
	p.protocols, p.serverCred, p.proxyCred = ctl.protocols.get(), ctl.serverCred.get(), ctl.proxyCred.get()
	p.tls.copyTLSFrom(&ctl.tlsControl)
	if p.transport == nil {
		p.transport = DefaultTransport
	}
	if p.serverCred != nil {
		p.header.Set("Authorization", p.serverCred.basic())
	}
	d, err := dialWebSocket(ctx, p)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		d.conn.CloseNow()
		return nil, &WebSocketError{Op: "connect", URL: uri, Status: WebErrorOperationCanceled, Err: net.ErrClosed}
	}
	w.dialed, w.openedAt = d, time.Now()
	return d, nil
}

func (w *webSocket) information() WebSocketInformation {
	w.mu.Lock()
	d, opened := w.dialed, w.openedAt
	w.mu.Unlock()
	var info WebSocketInformation
	if d == nil {
		return info
	}
	info.Protocol = d.conn.Subprotocol()
	info.LocalAddress = d.local
	if d.count != nil {
		secs := time.Since(opened).Seconds()
		if secs > 0 {
			info.BandwidthStatistics.OutboundBitsPerSecond = uint64(float64(d.count.out.Load()*8) / secs)
			info.BandwidthStatistics.InboundBitsPerSecond = uint64(float64(d.count.in.Load()*8) / secs)
		}
	}
	if d.res != nil {
		var si StreamSocketInformation
		d.res.fill(&si)
		info.ServerCertificate, info.ServerIntermediateCertificates = si.ServerCertificate, si.ServerIntermediateCertificates
		info.ServerCertificateErrors, info.ServerCertificateErrorSeverity = si.ServerCertificateErrors, si.ServerCertificateErrorSeverity
	}
	return info
}

func (w *webSocket) conn() (wsConn, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dialed == nil {
		if w.closed {
			return nil, net.ErrClosed
		}
		return nil, errNotConnected
	}
	return w.dialed.conn, nil
}

// fireClosed runs the Closed callback once, with the close frame err
// carries (1006 when there is none).
func (w *webSocket) fireClosed(err error) {
	w.closeEv.Do(func() {
		ev := WebSocketClosedEventArgs{Code: uint16(websocket.StatusAbnormalClosure)}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			ev = WebSocketClosedEventArgs{Code: uint16(ce.Code), Reason: ce.Reason, WasClean: true}
		}
		w.mu.Lock()
		f := w.onClosed
		var c wsConn
		if w.dialed != nil {
			c = w.dialed.conn
		}
		w.mu.Unlock()
		if r, ok := c.(closeReporter); ok {
			if e, ok := r.closedEvent(); ok {
				ev = e
			}
		}
		if f != nil {
			f(ev)
		}
	})
}

func (w *webSocket) close(code uint16, reason string) error {
	w.mu.Lock()
	d := w.dialed
	if d != nil && !w.closed {
		if cc, ok := d.conn.(closeChecker); ok {
			if err := cc.checkClose(code, reason); err != nil {
				w.mu.Unlock()
				return &WebSocketError{Op: "close", Err: err}
			}
		}
	}
	already := w.closed
	w.closed = true
	w.mu.Unlock()
	if already {
		return &WebSocketError{Op: "close", Err: net.ErrClosed}
	}
	if d == nil {
		return nil
	}
	err := d.conn.Close(websocket.StatusCode(code), reason)
	// Natively the event reports this side's code and reason; a close
	// reporter (the browser) reports its close event instead.
	w.fireClosed(websocket.CloseError{Code: websocket.StatusCode(code), Reason: reason})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return nil // the peer closed first; that is a closed socket too
		}
		return &WebSocketError{Op: "close", Err: err}
	}
	return nil
}

// writeMessage sends p as one message of type typ, in frames of at most
// frame bytes (0: one frame).
func writeMessage(ctx context.Context, c wsConn, typ websocket.MessageType, p []byte, frame uint32) error {
	if ms, ok := c.(messageSender); ok {
		return ms.sendMessage(ctx, typ, p)
	}
	wr, err := c.Writer(ctx, typ)
	if err != nil {
		return err
	}
	for len(p) > 0 {
		n := len(p)
		if frame > 0 && n > int(frame) {
			n = int(frame)
		}
		if _, err := wr.Write(p[:n]); err != nil {
			wr.Close()
			return err
		}
		p = p[n:]
	}
	return wr.Close()
}

// countConn counts the bytes a connection carries, for
// BandwidthStatistics.
type countConn struct {
	net.Conn
	in, out atomic.Int64
}

func (c *countConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.Add(int64(n))
	return n, err
}

func (c *countConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.Add(int64(n))
	return n, err
}

// dialStreamSocket opens the TCP (and for wss, TLS) connection a WebSocket
// runs over, through p's transport, so the capability policy applies.
func dialStreamSocket(ctx context.Context, p *wsDialParams, addr string, secure bool) (*StreamSocket, *tlsResult, error) {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	hn, err := NewHostName(h)
	if err != nil {
		return nil, nil, err
	}
	s := NewStreamSocket(p.transport)
	s.control.copyTLSFrom(p.tls)
	level := ProtectionLevelPlainSocket
	if secure {
		level = ProtectionLevelSsl
	}
	err = s.ConnectWithProtectionLevel(ctx, hn, port, level)
	var res *tlsResult
	if secure {
		info := s.Information()
		res = &tlsResult{level: info.ProtectionLevel, cert: info.ServerCertificate, intermediates: info.ServerIntermediateCertificates,
			errs: info.ServerCertificateErrors, severity: info.ServerCertificateErrorSeverity}
	}
	if err != nil {
		return nil, res, err
	}
	return s, res, nil
}

// hostPort is u's host:port with the scheme's default port.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "wss" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// handshakeError explains a failed opening handshake: resp is the server's
// answer when there was one, body its first bytes.
func handshakeError(uri string, offered []string, resp *http.Response, body []byte, err error) error {
	we := &WebSocketError{Op: "connect", URL: uri, Err: err}
	if resp == nil {
		we.Status = webStatusOf(err)
		return we
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		we.Status = WebErrorStatus(resp.StatusCode)
		if we.Status.String() == fmt.Sprintf("WebErrorStatus(%d)", resp.StatusCode) {
			we.Status = WebErrorUnexpectedStatusCode
		}
	} else {
		we.Status = WebErrorHttpInvalidServerResponse
	}
	msg := fmt.Sprintf("server answered %s", resp.Status)
	if want := resp.Header.Get("Sec-WebSocket-Protocol"); want != "" && !slices.Contains(offered, want) {
		msg = fmt.Sprintf("server requires subprotocol %q, offered %q (%s)", want, offered, resp.Status)
	}
	if b := strings.TrimSpace(string(body)); b != "" {
		msg += ": " + b
	}
	we.Err = fmt.Errorf("%s: %w", msg, err)
	return we
}

// readBody returns the first KiB of a refused handshake's body.
func readBody(resp *http.Response) []byte {
	if resp == nil || resp.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return b
}

// socketErrorIn returns the *SocketError inside err, or nil.
func socketErrorIn(err error) error {
	var se *SocketError
	if errors.As(err, &se) {
		return se
	}
	return nil
}
