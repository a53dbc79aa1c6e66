//go:build !js

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// docRow is one row of docs/SECURITY.md's table of the runtime's errors.
type docRow struct {
	substr       string // "" for the "anything else" row
	fine, plain  wisp.CloseReason
	client       string // a SocketErrorStatus name, or ErrAccessDenied / ErrInvalidArgument
	line         int
	exampleError string // a message containing substr
}

// readDocTable parses the table between the edge-errors markers.
func readDocTable(t *testing.T) []docRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []docRow
	in := false
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, "<!-- edge-errors: begin"):
			in = true
			continue
		case strings.Contains(line, "<!-- edge-errors: end"):
			in = false
		}
		if !in || !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| ---") || strings.HasPrefix(line, "| the runtime") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 4 {
			t.Fatalf("SECURITY.md:%d: %d cells, want 4: %s", i+1, len(cells), line)
		}
		r := docRow{line: i + 1, client: strings.Trim(cells[3], "`")}
		if strings.HasPrefix(cells[0], "`") {
			r.substr = strings.Trim(cells[0], "`")
			r.exampleError = "Error: " + strings.ToUpper(r.substr[:1]) + r.substr[1:] + "."
		} else {
			r.exampleError = "Error: something the table does not list"
		}
		var fine, plain uint8
		if _, err := fmt.Sscanf(strings.ReplaceAll(cells[2], "`", ""), "0x%x / 0x%x", &fine, &plain); err != nil {
			t.Fatalf("SECURITY.md:%d: reasons %q: %v", i+1, cells[2], err)
		}
		r.fine, r.plain = wisp.CloseReason(fine), wisp.CloseReason(plain)
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		t.Fatal("SECURITY.md has no edge-errors table")
	}
	return rows
}

// TestErrorTableMatchesDocs: the doc lists exactly the code's matches, in
// the code's order (the first match wins), and an "anything else" row.
func TestErrorTableMatchesDocs(t *testing.T) {
	t.Parallel()
	rows := readDocTable(t)
	var doc []string
	for _, r := range rows {
		if r.substr != "" {
			doc = append(doc, r.substr)
		}
	}
	var code []string
	for _, m := range socketMatches {
		code = append(code, m.substr)
	}
	if strings.Join(doc, "\n") != strings.Join(code, "\n") {
		t.Errorf("SECURITY.md's edge error table lists\n  %q\nthe code (socketMatches) matches\n  %q", doc, code)
	}
	if rows[len(rows)-1].substr != "" {
		t.Error("SECURITY.md's edge error table has no last row for anything else")
	}
}

// TestErrorMapping: each runtime message of the doc's table, returned by the
// edge relay's dialer, reaches a sockshim client (shim over RelayTransport)
// and a plain Wisp v1 client as the reasons and status the table gives,
// through the real relay in edge mode. Relay TLS's own case: a handshake
// that failed after TCP opened (dialSocket) is 0xD5, CertificateIsInvalid.
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	rows := readDocTable(t)
	rows = append(rows, docRow{substr: "(relay TLS: TCP opens, TLS does not)", fine: wisp.ReasonTLSFailed, plain: wisp.ReasonNetworkError, client: "CertificateIsInvalid"})
	// The port says which row the dialer answers with.
	srv := relay.New(&relay.Options{
		Config: relay.DevConfig(),
		Edge: &relay.EdgeOptions{Name: "the test edge", MaxStreamsPerSession: 6,
			Dial: func(ctx context.Context, host string, port uint16, tls bool) (net.Conn, error) {
				r := rows[int(port)-1000]
				if r.substr == "(relay TLS: TCP opens, TLS does not)" {
					return nil, fmt.Errorf("%w: %w", relay.ErrTLSFailed, mapMessage("proxy request failed, cannot connect to the specified address", errors.New("Error: proxy request failed")))
				}
				return nil, mapMessage(r.exampleError, errors.New(r.exampleError))
			}},
	})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"wisp-v2"}})
		if err != nil {
			return
		}
		srv.ServeMessages(c, r)
	}))
	t.Cleanup(hs.Close)
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/wisp/"
	tr := shim.RelayTransport(url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	plain, err := wispclient.Dial(ctx, url, &wispclient.Options{V1: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	host, _ := shim.NewHostName("127.0.0.1")
	sentinels := map[string]error{"ErrAccessDenied": shim.ErrAccessDenied, "ErrInvalidArgument": shim.ErrInvalidArgument}
	for i, r := range rows {
		port := 1000 + i
		name := r.substr
		if name == "" {
			name = "anything else"
		}
		t.Run(name, func(t *testing.T) {
			s := shim.NewStreamSocket(tr)
			level := shim.ProtectionLevelPlainSocket
			if strings.HasPrefix(r.substr, "(relay TLS") {
				level = shim.ProtectionLevelRelayTls
			}
			err := s.ConnectWithProtectionLevel(ctx, host, strconv.Itoa(port), level)
			if err == nil {
				s.Close()
				t.Fatal("connected")
			}
			var ce *wisp.CloseError
			if !errors.As(err, &ce) || ce.Reason != r.fine {
				t.Errorf("SECURITY.md:%d: sockshim client got %v, want CLOSE %v", r.line, err, r.fine)
			}
			if want, ok := sentinels[r.client]; ok {
				if !errors.Is(err, want) {
					t.Errorf("SECURITY.md:%d: %v, want errors.Is %s", r.line, err, r.client)
				}
			} else if st := shim.GetStatus(err); st.String() != r.client {
				t.Errorf("SECURITY.md:%d: %v: status %v, want %s", r.line, err, st, r.client)
			}
			if level == shim.ProtectionLevelRelayTls {
				return // plain Wisp clients cannot ask for relay TLS
			}
			// A plain Wisp v1 client learns the failure on its first read.
			st, err := plain.Open(ctx, wisp.StreamTCP, "127.0.0.1", uint16(port))
			if err == nil {
				defer st.Close()
				_, err = st.Read(make([]byte, 1))
			}
			if !errors.As(err, &ce) || ce.Reason != r.plain {
				t.Errorf("SECURITY.md:%d: plain Wisp client got %v, want CLOSE %v", r.line, err, r.plain)
			}
		})
	}
}
