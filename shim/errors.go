package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// SocketErrorStatus is a socket operation's outcome, mirroring
// https://learn.microsoft.com/uwp/api/windows.networking.sockets.socketerrorstatus.
// Get it from any error with GetStatus.
type SocketErrorStatus int32

// The WinRT values, in WinRT's order, each named SocketError + WinRT's
// member name (String returns WinRT's name).
const (
	SocketErrorUnknown SocketErrorStatus = iota
	SocketErrorOperationAborted
	SocketErrorHTTPInvalidServerResponse
	SocketErrorConnectionTimedOut
	SocketErrorAddressFamilyNotSupported
	SocketErrorSocketTypeNotSupported
	SocketErrorHostNotFound
	SocketErrorNoDataRecordOfRequestedType
	SocketErrorNonAuthoritativeHostNotFound
	SocketErrorClassTypeNotFound
	SocketErrorAddressAlreadyInUse
	SocketErrorCannotAssignRequestedAddress
	SocketErrorConnectionRefused
	SocketErrorNetworkIsUnreachable
	SocketErrorUnreachableHost
	SocketErrorNetworkIsDown
	SocketErrorNetworkDroppedConnectionOnReset
	SocketErrorSoftwareCausedConnectionAbort
	SocketErrorConnectionResetByPeer
	SocketErrorHostIsDown
	SocketErrorNoAddressesFound
	SocketErrorTooManyOpenFiles
	SocketErrorMessageTooLong
	SocketErrorCertificateExpired
	SocketErrorCertificateUntrustedRoot
	SocketErrorCertificateCommonNameIsIncorrect
	SocketErrorCertificateWrongUsage
	SocketErrorCertificateRevoked
	SocketErrorCertificateNoRevocationCheck
	SocketErrorCertificateRevocationServerOffline
	SocketErrorCertificateIsInvalid
)

var statusNames = [...]string{
	"Unknown", "OperationAborted", "HttpInvalidServerResponse", "ConnectionTimedOut",
	"AddressFamilyNotSupported", "SocketTypeNotSupported", "HostNotFound",
	"NoDataRecordOfRequestedType", "NonAuthoritativeHostNotFound", "ClassTypeNotFound",
	"AddressAlreadyInUse", "CannotAssignRequestedAddress", "ConnectionRefused",
	"NetworkIsUnreachable", "UnreachableHost", "NetworkIsDown",
	"NetworkDroppedConnectionOnReset", "SoftwareCausedConnectionAbort", "ConnectionResetByPeer",
	"HostIsDown", "NoAddressesFound", "TooManyOpenFiles", "MessageTooLong",
	"CertificateExpired", "CertificateUntrustedRoot", "CertificateCommonNameIsIncorrect",
	"CertificateWrongUsage", "CertificateRevoked", "CertificateNoRevocationCheck",
	"CertificateRevocationServerOffline", "CertificateIsInvalid",
}

func (s SocketErrorStatus) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("SocketErrorStatus(%d)", int32(s))
}

// Sentinel errors; test for them with errors.Is.
var (
	// ErrAccessDenied: the app's network capabilities do not allow the
	// operation (WinRT's E_ACCESSDENIED under network isolation).
	ErrAccessDenied = errors.New("access denied by network capability policy")
	// ErrNotSupported: the operation cannot work on this platform or
	// transport.
	ErrNotSupported = errors.New("not supported")
	// ErrInvalidArgument: a host name, service name or option is malformed.
	ErrInvalidArgument = errors.New("invalid argument")
)

// SocketError is the error of a socket operation. It carries a
// SocketErrorStatus and implements net.Error.
type SocketError struct {
	Op     string // "connect", "read", "write", ...
	Addr   string // host:service, when known
	Status SocketErrorStatus
	Err    error
}

func (e *SocketError) Error() string {
	s := "shim: " + e.Op
	if e.Addr != "" {
		s += " " + e.Addr
	}
	s += ": "
	if e.Err != nil {
		s += e.Err.Error()
	} else {
		s += e.Status.String()
	}
	return s
}

func (e *SocketError) Unwrap() error { return e.Err }

// Timeout reports whether the operation timed out (net.Error).
func (e *SocketError) Timeout() bool {
	var ne net.Error
	return e.Status == SocketErrorConnectionTimedOut || errors.Is(e.Err, os.ErrDeadlineExceeded) ||
		errors.As(e.Err, &ne) && ne.Timeout()
}

// Temporary is deprecated in net.Error; it reports Timeout.
func (e *SocketError) Temporary() bool { return e.Timeout() }

// GetStatus returns the SocketErrorStatus of err, like WinRT's
// SocketError.GetStatus; SocketErrorUnknown when err carries none.
func GetStatus(err error) SocketErrorStatus {
	var se *SocketError
	if errors.As(err, &se) {
		return se.Status
	}
	return statusOf(err)
}

// wrapErr turns a transport error into a *SocketError. io.EOF passes
// unchanged so a SocketError-free io.Reader contract holds.
func wrapErr(op, addr string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var se *SocketError
	if errors.As(err, &se) {
		return err
	}
	return &SocketError{Op: op, Addr: addr, Status: statusOf(err), Err: err}
}

// statusOf is err's status: the one its transport gave it where it entered
// (transport_relay.go, transport_direct_notjs.go), or else the one the
// operating system's or the context's error stands for.

func statusOf(err error) SocketErrorStatus {
	var ee *edgeError
	if errors.As(err, &ee) {
		return ee.status
	}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return SocketErrorHostNotFound
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return SocketErrorConnectionTimedOut
	case errors.Is(err, context.Canceled), errors.Is(err, net.ErrClosed):
		return SocketErrorOperationAborted
	case errors.Is(err, syscall.ECONNREFUSED):
		return SocketErrorConnectionRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return SocketErrorConnectionResetByPeer
	case errors.Is(err, syscall.ECONNABORTED):
		return SocketErrorSoftwareCausedConnectionAbort
	case errors.Is(err, syscall.ENETUNREACH):
		return SocketErrorNetworkIsUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH):
		return SocketErrorUnreachableHost
	case errors.Is(err, syscall.EHOSTDOWN):
		return SocketErrorHostIsDown
	case errors.Is(err, syscall.ENETDOWN):
		return SocketErrorNetworkIsDown
	case errors.Is(err, syscall.EADDRINUSE):
		return SocketErrorAddressAlreadyInUse
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return SocketErrorCannotAssignRequestedAddress
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return SocketErrorTooManyOpenFiles
	case errors.Is(err, syscall.EMSGSIZE):
		return SocketErrorMessageTooLong
	case errors.Is(err, syscall.EAFNOSUPPORT):
		return SocketErrorAddressFamilyNotSupported
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return SocketErrorConnectionTimedOut
	}
	return SocketErrorUnknown
}

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }
