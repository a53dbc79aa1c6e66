package resume

import (
	"context"
	"errors"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/cork"
	"github.com/sockshim/sockshim/internal/wsmsg"
)

// WSLink is a Link over one WebSocket, one binary message per Wisp packet.
type WSLink struct {
	Conn *websocket.Conn
	Out  *cork.Conn    // under Conn's writer; nil when there is none (a browser)
	Rd   *wsmsg.Reader // the reader of Conn; its buffer can be taken (wsmsg.Reader.Take)
}

// NewWSLink wraps conn. rd may be nil (a new reader is made).
func NewWSLink(conn *websocket.Conn, out *cork.Conn, rd *wsmsg.Reader) *WSLink {
	if rd == nil {
		rd = wsmsg.NewReader(conn)
	}
	return &WSLink{Conn: conn, Out: out, Rd: rd}
}

// ErrTextMessage is a text message on a Wisp WebSocket.
var ErrTextMessage = errors.New("resume: text message on a Wisp WebSocket")

func (l *WSLink) WriteMessage(ctx context.Context, b []byte) error {
	return l.Conn.Write(ctx, websocket.MessageBinary, b)
}

func (l *WSLink) ReadMessage(ctx context.Context) ([]byte, error) {
	typ, b, err := l.Rd.Read(ctx)
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
