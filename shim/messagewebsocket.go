package shim

import (
	"context"
	"errors"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// MessageWebSocket is a WebSocket client that sends and receives whole
// messages, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.messagewebsocket.
// Register OnMessageReceived (required) and OnClosed, set Control options
// and request headers, then Connect. Messages are delivered in order, one
// callback at a time, on a goroutine of the socket's own; a slow callback
// slows the reading (back-pressure), it never loses messages.
type MessageWebSocket struct {
	webSocket
	control MessageWebSocketControl

	onMessage func(MessageWebSocketMessageReceivedEventArgs)
	sendMu    sync.Mutex
}

// MessageWebSocketControl holds a MessageWebSocket's options, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.messagewebsocketcontrol.
type MessageWebSocketControl struct {
	WebSocketControl

	msgType option[SocketMessageType]
	maxSize option[uint32] // 0: DefaultMaxMessageSize
	mode    option[MessageWebSocketReceiveMode]
}

// DefaultMaxMessageSize is MaxMessageSize's default: 32 MiB.
const DefaultMaxMessageSize = 32 << 20

// MessageType returns the type of messages Send sends. Default Binary.
func (c *MessageWebSocketControl) MessageType() SocketMessageType { return c.msgType.get() }

// SetMessageType sets the type of messages Send sends (it may change
// between sends).
func (c *MessageWebSocketControl) SetMessageType(t SocketMessageType) { c.msgType.set(t) }

// MaxMessageSize returns the largest message accepted; a larger one closes
// the connection with 1009 (message too big). Default 32 MiB. Over the
// browser's own WebSocket the browser has received the whole message
// before sockshim can see its size, and script cannot send 1009: the
// server gets 1000 with the reason "read limited at N bytes", and the
// Closed callback reports 1009.
func (c *MessageWebSocketControl) MaxMessageSize() uint32 {
	if n := c.maxSize.get(); n != 0 {
		return n
	}
	return DefaultMaxMessageSize
}

// SetMaxMessageSize sets the largest message accepted. Set it before
// Connect.
func (c *MessageWebSocketControl) SetMaxMessageSize(n uint32) { c.maxSize.set(n) }

// ReceiveMode returns whether MessageReceived fires per message or per
// fragment. Default FullMessage. Over the browser's own WebSocket, which
// gives script whole messages only, PartialMessage delivers each message
// whole, in one delivery with IsMessageComplete set.
func (c *MessageWebSocketControl) ReceiveMode() MessageWebSocketReceiveMode { return c.mode.get() }

// SetReceiveMode sets the receive mode. Set it before Connect.
func (c *MessageWebSocketControl) SetReceiveMode(m MessageWebSocketReceiveMode) { c.mode.set(m) }

// MessageWebSocketMessageReceivedEventArgs is one delivery, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.messagewebsocketmessagereceivedeventargs.
// In PartialMessage mode a message arrives as several deliveries, the last
// with IsMessageComplete set (its Data may be empty).
type MessageWebSocketMessageReceivedEventArgs struct {
	MessageType       SocketMessageType
	IsMessageComplete bool
	Data              []byte
}

// partialChunk is the most data one PartialMessage delivery carries.
const partialChunk = 64 << 10

// NewMessageWebSocket returns a MessageWebSocket on the given transport
// (nil means DefaultTransport).
func NewMessageWebSocket(t Transport) *MessageWebSocket {
	return &MessageWebSocket{webSocket: webSocket{Transport: t}}
}

// Control returns the socket's options.
func (s *MessageWebSocket) Control() *MessageWebSocketControl { return &s.control }

// Information returns what is known about the connection.
func (s *MessageWebSocket) Information() WebSocketInformation { return s.information() }

// SetRequestHeader adds a header to the opening handshake (WinRT's
// SetRequestHeader). Set it before Connect.
func (s *MessageWebSocket) SetRequestHeader(name, value string) { s.setRequestHeader(name, value) }

// OnMessageReceived registers the MessageReceived callback. It must be set
// before Connect.
func (s *MessageWebSocket) OnMessageReceived(f func(MessageWebSocketMessageReceivedEventArgs)) {
	s.mu.Lock()
	s.onMessage = f
	s.mu.Unlock()
}

// OnClosed registers the Closed callback, called once when the connection
// ends, however it ends.
func (s *MessageWebSocket) OnClosed(f func(WebSocketClosedEventArgs)) {
	s.mu.Lock()
	s.onClosed = f
	s.mu.Unlock()
}

var errNoHandler = errors.New("OnMessageReceived must be set before Connect")

// Connect performs the opening handshake with uri (ws:// or wss://).
// Errors are *WebSocketError (see GetWebStatus); socket failures inside
// them keep their SocketErrorStatus (see GetStatus). A server that
// demands a subprotocol the client did not offer yields an error naming
// it.
func (s *MessageWebSocket) Connect(ctx context.Context, uri string) error {
	s.mu.Lock()
	f := s.onMessage
	s.mu.Unlock()
	if f == nil {
		return &WebSocketError{Op: "connect", URL: uri, Err: errf("%w: %w", errNoHandler, ErrInvalidArgument)}
	}
	d, err := s.connect(ctx, uri, &s.control.WebSocketControl)
	if err != nil {
		return err
	}
	d.conn.SetReadLimit(int64(s.control.MaxMessageSize()))
	mode := s.control.ReceiveMode()
	if _, ok := d.conn.(wholeMessages); ok {
		mode = ReceiveModeFullMessage // the browser hands over whole messages only
	}
	go s.readLoop(d.conn, f, mode)
	return nil
}

func (s *MessageWebSocket) readLoop(c wsConn, deliver func(MessageWebSocketMessageReceivedEventArgs), mode MessageWebSocketReceiveMode) {
	for {
		typ, r, err := c.Reader(context.Background())
		if err == nil {
			err = s.readMessage(messageTypeOf(typ), r, deliver, mode)
		}
		if errors.Is(err, errInvalidUTF8) {
			// RFC 6455 section 8.1: fail the connection with 1007.
			ce := websocket.CloseError{Code: websocket.StatusInvalidFramePayloadData, Reason: "invalid UTF-8 in a text message"}
			c.Close(ce.Code, ce.Reason)
			err = ce
		}
		if err != nil {
			s.fireClosed(err)
			c.CloseNow()
			return
		}
	}
}

// errInvalidUTF8: a text message that is not UTF-8 arrived.
var errInvalidUTF8 = errors.New("received a text message that is not valid UTF-8")

// utf8Check checks text that arrives in pieces; tail holds an incomplete
// character at the end of the pieces so far.
type utf8Check struct{ tail []byte }

// ok reports whether the text so far plus p is valid UTF-8 (with final,
// also complete).
func (u *utf8Check) ok(p []byte, final bool) bool {
	b := append(u.tail, p...)
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	if (final && cut != len(b)) || !utf8.Valid(b[:cut]) {
		return false
	}
	u.tail = append(u.tail[:0], b[cut:]...)
	return true
}

func (s *MessageWebSocket) readMessage(typ SocketMessageType, r io.Reader, deliver func(MessageWebSocketMessageReceivedEventArgs), mode MessageWebSocketReceiveMode) error {
	if mode == ReceiveModeFullMessage {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if typ == MessageTypeUtf8 && !utf8.Valid(b) {
			return errInvalidUTF8
		}
		deliver(MessageWebSocketMessageReceivedEventArgs{MessageType: typ, IsMessageComplete: true, Data: b})
		return nil
	}
	// Hold one chunk back so the last delivery can say the message is
	// complete.
	var pending []byte
	var text utf8Check
	buf := make([]byte, partialChunk)
	for {
		n, err := r.Read(buf)
		if typ == MessageTypeUtf8 && (n > 0 || err == io.EOF) && !text.ok(buf[:n], err == io.EOF) {
			if err == nil {
				io.Copy(io.Discard, r) // to the message's end (MaxMessageSize bounds it), so the close handshake can read
			}
			return errInvalidUTF8
		}
		if n > 0 {
			if pending != nil {
				deliver(MessageWebSocketMessageReceivedEventArgs{MessageType: typ, Data: pending})
			}
			pending = append([]byte(nil), buf[:n]...)
		}
		if err == io.EOF {
			if pending == nil {
				pending = []byte{}
			}
			deliver(MessageWebSocketMessageReceivedEventArgs{MessageType: typ, IsMessageComplete: true, Data: pending})
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Send sends data as one message of Control().MessageType(), in frames of
// at most OutboundBufferSizeInBytes (over the browser's own WebSocket:
// after waiting, bounded by ctx, until the browser's send buffer has room
// for it under OutboundBufferSizeInBytes). A Utf8 message must be valid UTF-8
// (RFC 6455 section 5.6): otherwise Send sends nothing and fails with an
// error wrapping ErrInvalidArgument. An invalid text message from the
// server closes the socket with 1007 (the Closed callback reports it).
func (s *MessageWebSocket) Send(ctx context.Context, data []byte) error {
	c, err := s.conn()
	if err != nil {
		return &WebSocketError{Op: "send", Status: webStatusOf(err), Err: err}
	}
	if s.control.MessageType() == MessageTypeUtf8 && !utf8.Valid(data) {
		return &WebSocketError{Op: "send", Err: errf("%w: a Utf8 message must be valid UTF-8; send these bytes as Binary", ErrInvalidArgument)}
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if err := writeMessage(ctx, c, s.control.MessageType().coder(), data, s.control.OutboundBufferSizeInBytes()); err != nil {
		return &WebSocketError{Op: "send", Status: webStatusOf(err), Err: err}
	}
	return nil
}

// Close performs the closing handshake with code (1000 is a normal
// closure) and reason (at most 123 bytes), then releases the socket; the
// Closed callback reports them (over the browser's own WebSocket: the
// close event, which carries the server's answer). A browser lets script
// send only 1000 and 3000-4999: there, another code fails with an error
// wrapping ErrInvalidArgument and leaves the socket open. Closing a socket that never connected only
// releases it. It may be called from a callback.
func (s *MessageWebSocket) Close(code uint16, reason string) error { return s.close(code, reason) }
