package resume

import (
	"context"
	"errors"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/cork"
	"github.com/sockshim/sockshim/internal/wsmsg"
)

// MessageConn is the writing side a WSLink needs of a WebSocket: a
// *wsmsg.Conn (coder/websocket's natively, the browser's in js) or another
// message conn (the relay's MessageConn).
type MessageConn interface {
	Write(ctx context.Context, typ websocket.MessageType, p []byte) error
	Close(code websocket.StatusCode, reason string) error
	CloseNow() error
}

// ReadConn is a MessageConn that reads messages itself.
type ReadConn interface {
	MessageConn
	Read(ctx context.Context) (websocket.MessageType, []byte, error)
}

// WSLink is a Link over one WebSocket, one binary message per Wisp packet.
type WSLink struct {
	Conn MessageConn
	Out  *cork.Conn    // under Conn's writer; nil when there is none (a browser)
	Rd   *wsmsg.Reader // reads Conn through one reused buffer (which can be taken); nil for a ReadConn
	rc   ReadConn
}

// NewWSLink is a link over a wsmsg WebSocket. rd may be nil (a new reader
// is made).
func NewWSLink(conn *wsmsg.Conn, out *cork.Conn, rd *wsmsg.Reader) *WSLink {
	if rd == nil {
		rd = wsmsg.NewReader(conn)
	}
	return &WSLink{Conn: conn, Out: out, Rd: rd}
}

// NewReadConnLink is a link over a conn that reads its own messages.
func NewReadConnLink(conn ReadConn, out *cork.Conn) *WSLink {
	return &WSLink{Conn: conn, Out: out, rc: conn}
}

// ErrTextMessage is a text message on a Wisp WebSocket.
var ErrTextMessage = errors.New("resume: text message on a Wisp WebSocket")

func (l *WSLink) WriteMessage(ctx context.Context, b []byte) error {
	return l.Conn.Write(ctx, websocket.MessageBinary, b)
}

func (l *WSLink) ReadMessage(ctx context.Context) ([]byte, error) {
	var typ websocket.MessageType
	var b []byte
	var err error
	if l.Rd != nil {
		typ, b, err = l.Rd.Read(ctx)
	} else {
		typ, b, err = l.rc.Read(ctx)
	}
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, ErrTextMessage
	}
	return b, nil
}

// Close drops the connection without a close frame: a peer that still
// hears it must not take a lost link for the end of the session.
func (l *WSLink) Close(string) { l.Conn.CloseNow() }

// CloseHandshake ends the WebSocket with a close frame. The cork under the
// writer is opened first: a writer holding it may be blocked until the
// close handshake ends, and the close frame must not wait behind it.
func (l *WSLink) CloseHandshake(code websocket.StatusCode, reason string) error {
	if l.Out != nil {
		l.Out.Open()
	}
	return l.Conn.Close(code, reason)
}

func (l *WSLink) Cork() {
	if l.Out != nil {
		l.Out.Cork()
	}
}

func (l *WSLink) Uncork() error {
	if l.Out != nil {
		return l.Out.Uncork()
	}
	return nil
}
