package shim

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/coder/websocket"
)

// StreamWebSocket is a WebSocket client used as a byte stream, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.streamwebsocket.
// Each Write sends one binary message; Read returns the bytes of the
// received messages in order, message boundaries dropped. After the
// server closes normally (1000), Read returns io.EOF.
type StreamWebSocket struct {
	webSocket
	control WebSocketControl

	readMu sync.Mutex
	cur    io.Reader // the message being read

	writeMu sync.Mutex
}

// NewStreamWebSocket returns a StreamWebSocket on the given transport (nil
// means DefaultTransport).
func NewStreamWebSocket(t Transport) *StreamWebSocket {
	return &StreamWebSocket{webSocket: webSocket{Transport: t}}
}

// Control returns the socket's options.
func (s *StreamWebSocket) Control() *WebSocketControl { return &s.control }

// Information returns what is known about the connection.
func (s *StreamWebSocket) Information() WebSocketInformation { return s.information() }

// SetRequestHeader adds a header to the opening handshake. Set it before
// Connect.
func (s *StreamWebSocket) SetRequestHeader(name, value string) { s.setRequestHeader(name, value) }

// OnClosed registers the Closed callback, called once when the connection
// ends, however it ends.
func (s *StreamWebSocket) OnClosed(f func(WebSocketClosedEventArgs)) {
	s.mu.Lock()
	s.onClosed = f
	s.mu.Unlock()
}

// Connect performs the opening handshake with uri (ws:// or wss://); see
// MessageWebSocket.Connect for errors.
func (s *StreamWebSocket) Connect(ctx context.Context, uri string) error {
	d, err := s.connect(ctx, uri, &s.control)
	if err != nil {
		return err
	}
	d.conn.SetReadLimit(-1) // a stream has no message size
	return nil
}

// Read reads received bytes.
func (s *StreamWebSocket) Read(b []byte) (int, error) {
	c, err := s.conn()
	if err != nil {
		return 0, &WebSocketError{Op: "receive", Status: webStatusOf(err), Err: err}
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	for {
		if s.cur == nil {
			_, r, err := c.Reader(context.Background())
			if err != nil {
				s.fireClosed(err)
				var ce websocket.CloseError
				if errors.As(err, &ce) && ce.Code == websocket.StatusNormalClosure {
					return 0, io.EOF
				}
				return 0, &WebSocketError{Op: "receive", Status: webStatusOf(err), Err: err}
			}
			s.cur = r
		}
		n, err := s.cur.Read(b)
		if err == io.EOF {
			s.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			s.fireClosed(err)
			return n, &WebSocketError{Op: "receive", Status: webStatusOf(err), Err: err}
		}
		if n > 0 || len(b) == 0 {
			return n, nil
		}
	}
}

// Write sends b as one binary message, in frames of at most
// OutboundBufferSizeInBytes (over the browser's own WebSocket: after
// waiting until the browser's send buffer has room for it under
// OutboundBufferSizeInBytes, without a time limit; see
// MessageWebSocket.Send for one with a context).
func (s *StreamWebSocket) Write(b []byte) (int, error) {
	c, err := s.conn()
	if err != nil {
		return 0, &WebSocketError{Op: "send", Status: webStatusOf(err), Err: err}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := writeMessage(context.Background(), c, websocket.MessageBinary, b, s.control.OutboundBufferSizeInBytes()); err != nil {
		return 0, &WebSocketError{Op: "send", Status: webStatusOf(err), Err: err}
	}
	return len(b), nil
}

// Close performs the closing handshake with code (1000 is a normal
// closure) and reason, then releases the socket; see
// MessageWebSocket.Close for the codes a browser allows.
func (s *StreamWebSocket) Close(code uint16, reason string) error { return s.close(code, reason) }
