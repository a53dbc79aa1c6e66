package shim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"
)

// SocketProtectionLevel is the security a connection asks for, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.socketprotectionlevel.
//
// TLS runs in this process (Go's crypto/tls), end to end: through a relay,
// the relay only forwards ciphertext. The one exception is sockshim's own
// ProtectionLevelRelayTls (relaytls.go), which asks the relay to do TLS and
// is never end to end. Go never negotiates a NULL
// cipher and has no SSL 3 or Bluetooth link security, so the levels that
// ask for those fail with ErrNotSupported.
type SocketProtectionLevel uint8

// The zero value is ProtectionLevelUnspecified (WinRT's Unspecified);
// the other members follow WinRT's order.
const (
	ProtectionLevelUnspecified SocketProtectionLevel = iota
	// ProtectionLevelPlainSocket: no encryption.
	ProtectionLevelPlainSocket
	// ProtectionLevelSsl: TLS 1.2 or 1.3 (the best both ends support),
	// never a NULL cipher.
	ProtectionLevelSsl
	// ProtectionLevelSslAllowNullEncryption: not supported.
	ProtectionLevelSslAllowNullEncryption
	// ProtectionLevelBluetoothEncryptionAllowNullAuthentication: not supported.
	ProtectionLevelBluetoothEncryptionAllowNullAuthentication
	// ProtectionLevelBluetoothEncryptionWithAuthentication: not supported.
	ProtectionLevelBluetoothEncryptionWithAuthentication
	// ProtectionLevelSsl3AllowWeakEncryption: not supported.
	ProtectionLevelSsl3AllowWeakEncryption
	// ProtectionLevelTls10: exactly TLS 1.0.
	ProtectionLevelTls10
	// ProtectionLevelTls11: exactly TLS 1.1.
	ProtectionLevelTls11
	// ProtectionLevelTls12: exactly TLS 1.2.
	ProtectionLevelTls12
)

var protectionNames = [...]string{
	"Unspecified", "PlainSocket", "Ssl", "SslAllowNullEncryption",
	"BluetoothEncryptionAllowNullAuthentication", "BluetoothEncryptionWithAuthentication",
	"Ssl3AllowWeakEncryption", "Tls10", "Tls11", "Tls12",
}

func (l SocketProtectionLevel) String() string {
	if l == ProtectionLevelRelayTls {
		return "RelayTls"
	}
	if int(l) < len(protectionNames) {
		return protectionNames[l]
	}
	return fmt.Sprintf("SocketProtectionLevel(%d)", uint8(l))
}

// versions returns the TLS version range a level asks for.
func (l SocketProtectionLevel) versions() (lo, hi uint16, err error) {
	switch l {
	case ProtectionLevelSsl:
		return tls.VersionTLS12, tls.VersionTLS13, nil
	case ProtectionLevelTls10:
		return tls.VersionTLS10, tls.VersionTLS10, nil
	case ProtectionLevelTls11:
		return tls.VersionTLS11, tls.VersionTLS11, nil
	case ProtectionLevelTls12:
		return tls.VersionTLS12, tls.VersionTLS12, nil
	case ProtectionLevelSslAllowNullEncryption, ProtectionLevelSsl3AllowWeakEncryption,
		ProtectionLevelBluetoothEncryptionAllowNullAuthentication, ProtectionLevelBluetoothEncryptionWithAuthentication:
		return 0, 0, errf("protection level %v: %w (Go's TLS has no NULL ciphers, SSL 3 or Bluetooth security)", l, ErrNotSupported)
	case ProtectionLevelRelayTls:
		return 0, 0, errf("protection level %v: %w on an open connection (the relay does TLS only from the connect: ConnectWithProtectionLevel)", l, ErrNotSupported)
	}
	return 0, 0, errf("protection level %v is not a TLS level: %w", l, ErrInvalidArgument)
}

// protectionOf names a negotiated TLS version. TLS 1.3 has no WinRT member
// of its own; it reports Ssl ("the best TLS").
func protectionOf(version uint16) SocketProtectionLevel {
	switch version {
	case tls.VersionTLS10:
		return ProtectionLevelTls10
	case tls.VersionTLS11:
		return ProtectionLevelTls11
	case tls.VersionTLS12:
		return ProtectionLevelTls12
	}
	return ProtectionLevelSsl
}

// ChainValidationResult is one problem found with a server certificate,
// mirroring
// https://learn.microsoft.com/uwp/api/windows.security.cryptography.certificates.chainvalidationresult
// (same members, same order; the zero value is Success, "no problem").
type ChainValidationResult uint8

const (
	ChainValidationSuccess ChainValidationResult = iota
	// ChainValidationUntrusted: the chain does not end at a trusted root.
	ChainValidationUntrusted
	ChainValidationRevoked
	// ChainValidationExpired: a certificate of the chain is outside its
	// validity period (expired or not yet valid).
	ChainValidationExpired
	ChainValidationIncompleteChain
	ChainValidationInvalidSignature
	// ChainValidationWrongUsage: the certificate is not for TLS servers.
	ChainValidationWrongUsage
	// ChainValidationInvalidName: the certificate does not name the host.
	ChainValidationInvalidName
	ChainValidationInvalidCertificateAuthorityPolicy
	ChainValidationBasicConstraintsError
	ChainValidationUnknownCriticalExtension
	ChainValidationRevocationInformationMissing
	ChainValidationRevocationFailure
	ChainValidationOtherErrors
)

var chainNames = [...]string{
	"Success", "Untrusted", "Revoked", "Expired", "IncompleteChain", "InvalidSignature",
	"WrongUsage", "InvalidName", "InvalidCertificateAuthorityPolicy", "BasicConstraintsError",
	"UnknownCriticalExtension", "RevocationInformationMissing", "RevocationFailure", "OtherErrors",
}

func (r ChainValidationResult) String() string {
	if int(r) < len(chainNames) {
		return chainNames[r]
	}
	return fmt.Sprintf("ChainValidationResult(%d)", uint8(r))
}

// ignorable reports whether an app may choose to ignore r (WinRT's
// SocketSslErrorSeverity.Ignorable); the others are always fatal.
func (r ChainValidationResult) ignorable() bool {
	switch r {
	case ChainValidationUntrusted, ChainValidationExpired, ChainValidationIncompleteChain,
		ChainValidationWrongUsage, ChainValidationInvalidName,
		ChainValidationRevocationInformationMissing, ChainValidationRevocationFailure:
		return true
	}
	return false
}

// status is the SocketErrorStatus a connection refused for r fails with.
func (r ChainValidationResult) status() SocketErrorStatus {
	switch r {
	case ChainValidationExpired:
		return SocketErrorCertificateExpired
	case ChainValidationUntrusted, ChainValidationIncompleteChain:
		return SocketErrorCertificateUntrustedRoot
	case ChainValidationInvalidName:
		return SocketErrorCertificateCommonNameIsIncorrect
	case ChainValidationWrongUsage:
		return SocketErrorCertificateWrongUsage
	case ChainValidationRevoked:
		return SocketErrorCertificateRevoked
	case ChainValidationRevocationInformationMissing:
		return SocketErrorCertificateNoRevocationCheck
	case ChainValidationRevocationFailure:
		return SocketErrorCertificateRevocationServerOffline
	}
	return SocketErrorCertificateIsInvalid
}

// SocketSslErrorSeverity summarises a server certificate's problems,
// mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.socketsslerrorseverity.
type SocketSslErrorSeverity uint8

const (
	// SslErrorSeverityNone: no problems (or no TLS).
	SslErrorSeverityNone SocketSslErrorSeverity = iota
	// SslErrorSeverityIgnorable: every problem is one an app may ignore.
	SslErrorSeverityIgnorable
	// SslErrorSeverityFatal: at least one problem cannot be ignored.
	SslErrorSeverityFatal
)

func (s SocketSslErrorSeverity) String() string {
	switch s {
	case SslErrorSeverityNone:
		return "None"
	case SslErrorSeverityIgnorable:
		return "Ignorable"
	case SslErrorSeverityFatal:
		return "Fatal"
	}
	return fmt.Sprintf("SocketSslErrorSeverity(%d)", uint8(s))
}

// CertificateError is the error of a TLS handshake refused because of the
// server certificate. Its SocketError's Status is the WinRT certificate
// status (SocketErrorCertificateExpired, SocketErrorCertificateUntrustedRoot, ...); get it with
// GetStatus.
type CertificateError struct {
	// Errors are the problems not listed as ignorable.
	Errors []ChainValidationResult
	// Err is crypto/x509's description of the first one.
	Err error
}

func (e *CertificateError) Error() string {
	s := fmt.Sprintf("server certificate: %v", e.Errors)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *CertificateError) Unwrap() error { return e.Err }

// tlsControl holds the TLS options shared by StreamSocketControl and the
// WebSocket controls.
type tlsControl struct {
	ignorable listOption[ChainValidationResult]
	clientCrt option[*tls.Certificate]
	roots     option[*x509.CertPool]
}

// IgnorableServerCertificateErrors returns the certificate problems the
// connection tolerates. Default none.
func (c *tlsControl) IgnorableServerCertificateErrors() []ChainValidationResult {
	return c.ignorable.get()
}

// SetIgnorableServerCertificateErrors lists the certificate problems to
// tolerate; every other problem still fails the handshake. Only ignorable
// results (Untrusted, Expired, IncompleteChain, WrongUsage, InvalidName and
// the revocation ones) may be listed: Connect fails with ErrInvalidArgument
// otherwise. Set it before Connect (or UpgradeToSsl).
func (c *tlsControl) SetIgnorableServerCertificateErrors(errs ...ChainValidationResult) {
	c.ignorable.set(errs)
}

// ClientCertificate returns the certificate offered when the server asks
// for one (mutual TLS). Default nil.
func (c *tlsControl) ClientCertificate() *tls.Certificate { return c.clientCrt.get() }

// SetClientCertificate sets the certificate (with its private key) offered
// when the server asks for one.
func (c *tlsControl) SetClientCertificate(crt *tls.Certificate) { c.clientCrt.set(crt) }

// TrustedRoots returns the root certificates server certificates are
// checked against; nil (the default) means the system's roots natively and
// a bundled copy of the Mozilla root set in a browser (the js build has no
// system roots).
func (c *tlsControl) TrustedRoots() *x509.CertPool { return c.roots.get() }

// SetTrustedRoots replaces the root certificates (nil restores the
// default), for private CAs and tests.
func (c *tlsControl) SetTrustedRoots(p *x509.CertPool) { c.roots.set(p) }

func (c *tlsControl) copyTLSFrom(o *tlsControl) {
	c.ignorable.set(o.ignorable.get())
	c.clientCrt.set(o.clientCrt.get())
	c.roots.set(o.roots.get())
}

// tlsResult is what a handshake learned about the server, successful or
// not.
type tlsResult struct {
	mu            sync.Mutex
	level         SocketProtectionLevel
	cert          *x509.Certificate
	intermediates []*x509.Certificate
	errs          []ChainValidationResult
	severity      SocketSslErrorSeverity
}

func (r *tlsResult) fill(info *StreamSocketInformation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	info.ProtectionLevel = r.level
	info.ServerCertificate = r.cert
	info.ServerIntermediateCertificates = slices.Clone(r.intermediates)
	info.ServerCertificateErrors = slices.Clone(r.errs)
	info.ServerCertificateErrorSeverity = r.severity
}

// tlsConfig builds the client configuration for level, verifying the
// server as serverName under c's options and recording what it found in
// res. Verification is done here rather than by crypto/tls so that each
// problem can be named and only the listed ones ignored.
func (c *tlsControl) tlsConfig(level SocketProtectionLevel, serverName string, res *tlsResult) (*tls.Config, error) {
	lo, hi, err := level.versions()
	if err != nil {
		return nil, err
	}
	ignorable, crt, roots := c.ignorable.get(), c.clientCrt.get(), c.roots.get()
	for _, r := range ignorable {
		if !r.ignorable() {
			return nil, errf("%v cannot be ignored: %w", r, ErrInvalidArgument)
		}
	}
	cfg := &tls.Config{
		ServerName:         serverName,
		MinVersion:         lo,
		MaxVersion:         hi,
		InsecureSkipVerify: true, // verified by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			found, first := verifyServer(cs.PeerCertificates, serverName, roots, time.Now())
			var refused []ChainValidationResult
			sev := SslErrorSeverityNone
			for _, r := range found {
				if !r.ignorable() {
					sev = SslErrorSeverityFatal
				} else if sev == SslErrorSeverityNone {
					sev = SslErrorSeverityIgnorable
				}
				if !slices.Contains(ignorable, r) {
					refused = append(refused, r)
				}
			}
			res.mu.Lock()
			res.level = protectionOf(cs.Version)
			if len(cs.PeerCertificates) > 0 {
				res.cert = cs.PeerCertificates[0]
				res.intermediates = slices.Clone(cs.PeerCertificates[1:])
			}
			res.errs, res.severity = found, sev
			res.mu.Unlock()
			if len(refused) > 0 {
				return &SocketError{Op: "tls handshake", Status: refused[0].status(), Err: &CertificateError{Errors: refused, Err: first[refused[0]]}}
			}
			return nil
		},
	}
	if crt != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return crt, nil }
	}
	return cfg, nil
}

// verifyServer lists every problem of the chain certs presents for
// serverName, in ChainValidationResult order, with x509's error for each.
func verifyServer(certs []*x509.Certificate, serverName string, roots *x509.CertPool, now time.Time) ([]ChainValidationResult, map[ChainValidationResult]error) {
	found := map[ChainValidationResult]error{}
	if len(certs) == 0 {
		found[ChainValidationOtherErrors] = errors.New("no certificate")
		return []ChainValidationResult{ChainValidationOtherErrors}, found
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if err := leaf.VerifyHostname(serverName); err != nil {
		found[ChainValidationInvalidName] = err
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		found[ChainValidationExpired] = x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired}
		// Judge the rest of the chain at a moment the leaf was valid, so an
		// expired leaf does not hide an untrusted root.
		now = leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := leaf.Verify(opts); err != nil {
		r := classify(err)
		if r == ChainValidationWrongUsage {
			// x509 reports usage before trust; look again for trust alone.
			opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
			if _, err2 := leaf.Verify(opts); err2 != nil {
				if r2 := classify(err2); found[r2] == nil {
					found[r2] = err2
				}
			}
		}
		if found[r] == nil {
			found[r] = err
		}
	}
	var list []ChainValidationResult
	for r := range found {
		list = append(list, r)
	}
	slices.Sort(list)
	return list, found
}

func classify(err error) ChainValidationResult {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var he x509.HostnameError
	var sr x509.SystemRootsError
	var ce x509.UnhandledCriticalExtension
	var ia x509.InsecureAlgorithmError
	switch {
	case errors.As(err, &ua), errors.As(err, &sr):
		return ChainValidationUntrusted
	case errors.As(err, &he):
		return ChainValidationInvalidName
	case errors.As(err, &ce):
		return ChainValidationUnknownCriticalExtension
	case errors.As(err, &ia), errors.Is(err, x509.ErrUnsupportedAlgorithm):
		return ChainValidationInvalidSignature
	case errors.As(err, &ci):
		switch ci.Reason {
		case x509.Expired:
			return ChainValidationExpired
		case x509.IncompatibleUsage:
			return ChainValidationWrongUsage
		case x509.NotAuthorizedToSign:
			return ChainValidationBasicConstraintsError
		case x509.CANotAuthorizedForThisName, x509.CANotAuthorizedForExtKeyUsage,
			x509.NameConstraintsWithoutSANs, x509.UnconstrainedName, x509.TooManyConstraints, x509.TooManyIntermediates:
			return ChainValidationInvalidCertificateAuthorityPolicy
		}
	}
	return ChainValidationOtherErrors
}

// ConnectWithProtectionLevel connects like Connect and then, unless level
// is ProtectionLevelPlainSocket, negotiates TLS at once, validating the
// server certificate for host (WinRT's ConnectAsync with a
// SocketProtectionLevel). A refused certificate fails with a *SocketError
// whose Status is the certificate status, and Information still reports
// the certificate and its problems so the app can decide to ignore them
// and try again. On any TLS failure the socket is left unconnected.
func (s *StreamSocket) ConnectWithProtectionLevel(ctx context.Context, host *HostName, service string, level SocketProtectionLevel) error {
	switch level {
	case ProtectionLevelPlainSocket:
		return s.Connect(ctx, host, service)
	case ProtectionLevelRelayTls:
		return s.connect(ctx, host, service, true) // relaytls.go
	}
	addr := joinHostService(host, service)
	if _, _, err := level.versions(); err != nil {
		return wrapErr("connect", addr, err)
	}
	if err := s.Connect(ctx, host, service); err != nil {
		return err
	}
	name := ""
	if host != nil {
		name = host.CanonicalName()
	}
	if err := s.upgrade(ctx, level, name); err != nil {
		s.mu.Lock()
		c := s.conn
		s.conn = nil
		s.mu.Unlock()
		if c != nil {
			c.Close()
		}
		return wrapErr("connect", addr, err)
	}
	return nil
}

// UpgradeToSsl negotiates TLS on a connected plain socket (STARTTLS),
// validating the server certificate for validationHostName (WinRT's
// UpgradeToSslAsync). From the moment it is called, Read and Write go
// through TLS only; if the handshake fails the socket stays unusable and
// should be closed.
func (s *StreamSocket) UpgradeToSsl(ctx context.Context, level SocketProtectionLevel, validationHostName *HostName) error {
	name := ""
	if validationHostName != nil {
		name = validationHostName.CanonicalName()
	}
	return wrapErr("upgrade to ssl", s.addr(), s.upgrade(ctx, level, name))
}

var errAlreadyTLS = errors.New("connection is already protected")

func (s *StreamSocket) upgrade(ctx context.Context, level SocketProtectionLevel, serverName string) error {
	res := new(tlsResult)
	cfg, err := s.control.tlsConfig(level, serverName, res)
	if err != nil {
		return err
	}
	s.mu.Lock()
	switch {
	case s.conn == nil && s.closed:
		s.mu.Unlock()
		return net.ErrClosed
	case s.conn == nil:
		s.mu.Unlock()
		return errNotConnected
	case s.tlsConn != nil:
		s.mu.Unlock()
		return errAlreadyTLS
	}
	tc := tls.Client(s.conn, cfg)
	s.conn, s.tlsConn = tc, tc
	s.mu.Unlock()

	err = tc.HandshakeContext(ctx)
	s.mu.Lock()
	res.fill(&s.info)
	if err != nil {
		s.info.ProtectionLevel = ProtectionLevelPlainSocket
		s.tlsConn = nil
	}
	s.mu.Unlock()
	if err != nil {
		var se *SocketError
		if errors.As(err, &se) {
			if se.Addr == "" {
				se.Addr = s.addr()
			}
			return se
		}
		return handshakeErr(err)
	}
	return nil
}

// handshakeErr gives TLS alerts the server sent about our certificate a
// status too.
func handshakeErr(err error) error {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		switch ae {
		case 42, 43, 44, 45, 46, 48, 116: // bad/unsupported/revoked/expired/unknown cert, unknown CA, certificate required
			return &SocketError{Op: "tls handshake", Status: SocketErrorCertificateIsInvalid, Err: err}
		}
	}
	return err
}
