//go:build js

package relay

// messageReader reads a session's messages; in the js build (the edge relay)
// the MessageConn reads them itself.
func messageReader(c MessageConn) messageReadConn { return c }
