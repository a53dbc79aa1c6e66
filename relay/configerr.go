package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// ConfigError is a mistake in a config: where it is, and what is wrong.
// Its text is "file:line:column: key.path: message", each part present when
// known, e.g. `relay.json:3:21: apps[0].limits.maxStreamz: unknown key`.
type ConfigError struct {
	File   string // "" for ParseConfig
	Line   int    // 1-based; 0 when not known
	Column int    // 1-based, in bytes
	Path   string // the key, e.g. "apps[0].listen.ports"; "" for the whole document
	Msg    string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// fieldError is a validation error at a JSON pointer ("/apps/0/limits");
// ParseConfig turns it into a ConfigError with a position.
type fieldError struct {
	ptr string
	msg string
}

func (e *fieldError) Error() string { return keyPath(e.ptr) + ": " + e.msg }

func fieldErr(ptr, format string, args ...any) error {
	return &fieldError{ptr: ptr, msg: fmt.Sprintf(format, args...)}
}

// decode unmarshals b into c strictly: unknown or duplicate keys, keys in
// another case, trailing data and wrong types are errors.
func decode(b []byte, c *Config) error {
	d := jsontext.NewDecoder(bytes.NewReader(b))
	if _, err := d.ReadValue(); err == nil {
		if off := d.InputOffset(); len(bytes.TrimSpace(b[off:])) > 0 {
			return positioned(b, off+int64(len(b[off:])-len(bytes.TrimLeft(b[off:], " \t\r\n"))), "", "trailing data after the JSON object")
		}
	}
	err := json.Unmarshal(b, c, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	var se *jsontext.SyntacticError
	var me *json.SemanticError
	switch {
	case errors.As(err, &se):
		msg := se.Err.Error()
		if errors.Is(se.Err, io.ErrUnexpectedEOF) {
			msg = "unexpected end of the file: the JSON is truncated"
		}
		return positioned(b, se.ByteOffset, string(se.JSONPointer), msg)
	case errors.As(err, &me):
		msg := "wrong type"
		switch {
		case me.Err != nil && strings.Contains(me.Err.Error(), "unknown object member"):
			msg = "unknown key"
		case me.Err != nil:
			msg = me.Err.Error()
		case me.GoType != nil:
			msg = fmt.Sprintf("want a %s, not a JSON %s", goKind(me.GoType.String()), me.JSONKind)
		}
		off := me.ByteOffset
		if o, ok := offsetOf(b, string(me.JSONPointer)); ok {
			off = o
		}
		return positioned(b, off, string(me.JSONPointer), msg)
	}
	return &ConfigError{Msg: err.Error()}
}

func goKind(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "list"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "float"):
		return "number"
	case t == "bool":
		return "boolean (true or false)"
	}
	return t
}

// positioned makes a ConfigError at byte offset off of b.
func positioned(b []byte, off int64, ptr, msg string) *ConfigError {
	off = max(0, min(off, int64(len(b))))
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return &ConfigError{Line: line, Column: col, Path: keyPath(ptr), Msg: msg}
}

// withPosition gives a validation error the position of its key.
func withPosition(b []byte, err error) error {
	var fe *fieldError
	if !errors.As(err, &fe) {
		return err
	}
	off, ok := offsetOf(b, fe.ptr)
	if !ok {
		return &ConfigError{Path: keyPath(fe.ptr), Msg: fe.msg}
	}
	return positioned(b, off, fe.ptr, fe.msg)
}

// offsetOf finds where the member or element at ptr starts in b (its key,
// for an object member).
func offsetOf(b []byte, ptr string) (int64, bool) {
	if ptr == "" {
		return 0, false
	}
	d := jsontext.NewDecoder(bytes.NewReader(b))
	for {
		before := d.InputOffset()
		if _, err := d.ReadToken(); err != nil {
			return 0, false
		}
		if string(d.StackPointer()) == ptr {
			rest := b[before:]
			return before + int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n,:"))), true
		}
	}
}

// keyPath turns a JSON pointer into a key path: /apps/0/limits becomes
// apps[0].limits.
func keyPath(ptr string) string {
	if ptr == "" {
		return ""
	}
	var b strings.Builder
	for tok := range jsontext.Pointer(ptr).Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteString(".")
		}
		b.WriteString(tok)
	}
	return b.String()
}
