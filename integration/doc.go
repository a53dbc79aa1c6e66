// Package integration runs real client libraries (pgx, x/crypto/ssh,
// go-redis, net/http) over sockshim against real servers from Debian
// packages. It is a module of its own so that users of
// github.com/sockshim/sockshim never inherit these libraries.
package integration
