package shim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
)

// WebErrorStatus is the outcome of a WebSocket operation, mirroring
// https://learn.microsoft.com/uwp/api/windows.web.weberrorstatus: HTTP
// status codes keep their numbers (404 is WebErrorNotFound). Get it from
// any error with GetWebStatus; the zero value is WebErrorUnknown.
type WebErrorStatus int32

// The WinRT values.
const (
	WebErrorUnknown                          WebErrorStatus = 0
	WebErrorCertificateCommonNameIsIncorrect WebErrorStatus = 1
	WebErrorCertificateExpired               WebErrorStatus = 2
	WebErrorCertificateContainsErrors        WebErrorStatus = 3
	WebErrorCertificateRevoked               WebErrorStatus = 4
	WebErrorCertificateIsInvalid             WebErrorStatus = 5
	WebErrorServerUnreachable                WebErrorStatus = 6
	WebErrorTimeout                          WebErrorStatus = 7
	WebErrorHttpInvalidServerResponse        WebErrorStatus = 8
	WebErrorConnectionAborted                WebErrorStatus = 9
	WebErrorConnectionReset                  WebErrorStatus = 10
	WebErrorDisconnected                     WebErrorStatus = 11
	WebErrorHttpToHttpsOnRedirection         WebErrorStatus = 12
	WebErrorHttpsToHttpOnRedirection         WebErrorStatus = 13
	WebErrorCannotConnect                    WebErrorStatus = 14
	WebErrorHostNameNotResolved              WebErrorStatus = 15
	WebErrorOperationCanceled                WebErrorStatus = 16
	WebErrorRedirectFailed                   WebErrorStatus = 17
	WebErrorUnexpectedStatusCode             WebErrorStatus = 18
	WebErrorUnexpectedRedirection            WebErrorStatus = 19
	WebErrorUnexpectedClientError            WebErrorStatus = 20
	WebErrorUnexpectedServerError            WebErrorStatus = 21
	WebErrorInsufficientRangeSupport         WebErrorStatus = 22
	WebErrorMissingContentLengthSupport      WebErrorStatus = 23
	WebErrorMultipleChoices                  WebErrorStatus = 300
	WebErrorMovedPermanently                 WebErrorStatus = 301
	WebErrorFound                            WebErrorStatus = 302
	WebErrorSeeOther                         WebErrorStatus = 303
	WebErrorNotModified                      WebErrorStatus = 304
	WebErrorUseProxy                         WebErrorStatus = 305
	WebErrorTemporaryRedirect                WebErrorStatus = 307
	WebErrorBadRequest                       WebErrorStatus = 400
	WebErrorUnauthorized                     WebErrorStatus = 401
	WebErrorPaymentRequired                  WebErrorStatus = 402
	WebErrorForbidden                        WebErrorStatus = 403
	WebErrorNotFound                         WebErrorStatus = 404
	WebErrorMethodNotAllowed                 WebErrorStatus = 405
	WebErrorNotAcceptable                    WebErrorStatus = 406
	WebErrorProxyAuthenticationRequired      WebErrorStatus = 407
	WebErrorRequestTimeout                   WebErrorStatus = 408
	WebErrorConflict                         WebErrorStatus = 409
	WebErrorGone                             WebErrorStatus = 410
	WebErrorLengthRequired                   WebErrorStatus = 411
	WebErrorPreconditionFailed               WebErrorStatus = 412
	WebErrorRequestEntityTooLarge            WebErrorStatus = 413
	WebErrorRequestUriTooLong                WebErrorStatus = 414
	WebErrorUnsupportedMediaType             WebErrorStatus = 415
	WebErrorRequestedRangeNotSatisfiable     WebErrorStatus = 416
	WebErrorExpectationFailed                WebErrorStatus = 417
	WebErrorInternalServerError              WebErrorStatus = 500
	WebErrorNotImplemented                   WebErrorStatus = 501
	WebErrorBadGateway                       WebErrorStatus = 502
	WebErrorServiceUnavailable               WebErrorStatus = 503
	WebErrorGatewayTimeout                   WebErrorStatus = 504
	WebErrorHttpVersionNotSupported          WebErrorStatus = 505
)

var webStatusNames = map[WebErrorStatus]string{
	0:   "Unknown",
	1:   "CertificateCommonNameIsIncorrect",
	2:   "CertificateExpired",
	3:   "CertificateContainsErrors",
	4:   "CertificateRevoked",
	5:   "CertificateIsInvalid",
	6:   "ServerUnreachable",
	7:   "Timeout",
	8:   "HttpInvalidServerResponse",
	9:   "ConnectionAborted",
	10:  "ConnectionReset",
	11:  "Disconnected",
	12:  "HttpToHttpsOnRedirection",
	13:  "HttpsToHttpOnRedirection",
	14:  "CannotConnect",
	15:  "HostNameNotResolved",
	16:  "OperationCanceled",
	17:  "RedirectFailed",
	18:  "UnexpectedStatusCode",
	19:  "UnexpectedRedirection",
	20:  "UnexpectedClientError",
	21:  "UnexpectedServerError",
	22:  "InsufficientRangeSupport",
	23:  "MissingContentLengthSupport",
	300: "MultipleChoices",
	301: "MovedPermanently",
	302: "Found",
	303: "SeeOther",
	304: "NotModified",
	305: "UseProxy",
	307: "TemporaryRedirect",
	400: "BadRequest",
	401: "Unauthorized",
	402: "PaymentRequired",
	403: "Forbidden",
	404: "NotFound",
	405: "MethodNotAllowed",
	406: "NotAcceptable",
	407: "ProxyAuthenticationRequired",
	408: "RequestTimeout",
	409: "Conflict",
	410: "Gone",
	411: "LengthRequired",
	412: "PreconditionFailed",
	413: "RequestEntityTooLarge",
	414: "RequestUriTooLong",
	415: "UnsupportedMediaType",
	416: "RequestedRangeNotSatisfiable",
	417: "ExpectationFailed",
	500: "InternalServerError",
	501: "NotImplemented",
	502: "BadGateway",
	503: "ServiceUnavailable",
	504: "GatewayTimeout",
	505: "HttpVersionNotSupported",
}

func (s WebErrorStatus) String() string {
	if n, ok := webStatusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("WebErrorStatus(%d)", int32(s))
}

// WebSocketError is the error of a MessageWebSocket or StreamWebSocket
// operation. It carries a WebErrorStatus; when a socket-level failure
// caused it (a refused certificate, say), Err is the *SocketError, so
// GetStatus works too.
type WebSocketError struct {
	Op     string // "connect", "send", "receive", "close"
	URL    string
	Status WebErrorStatus
	Err    error
}

func (e *WebSocketError) Error() string {
	s := "shim: websocket " + e.Op
	if e.URL != "" {
		s += " " + e.URL
	}
	s += ": "
	if e.Err != nil {
		return s + e.Err.Error()
	}
	return s + e.Status.String()
}

func (e *WebSocketError) Unwrap() error { return e.Err }

// Timeout reports whether the operation timed out (net.Error).
func (e *WebSocketError) Timeout() bool {
	var ne net.Error
	return e.Status == WebErrorTimeout || errors.As(e.Err, &ne) && ne.Timeout()
}

// Temporary is deprecated in net.Error; it reports Timeout.
func (e *WebSocketError) Temporary() bool { return e.Timeout() }

// GetWebStatus returns the WebErrorStatus of err, like WinRT's
// WebSocketError.GetStatus; WebErrorUnknown when err carries none.
func GetWebStatus(err error) WebErrorStatus {
	var we *WebSocketError
	if errors.As(err, &we) && we.Status != WebErrorUnknown {
		return we.Status
	}
	return webStatusOf(err)
}

// webStatusOf translates a socket-level failure.
func webStatusOf(err error) WebErrorStatus {
	if err == nil {
		return WebErrorUnknown
	}
	switch GetStatus(err) {
	case SocketErrorCertificateCommonNameIsIncorrect:
		return WebErrorCertificateCommonNameIsIncorrect
	case SocketErrorCertificateExpired:
		return WebErrorCertificateExpired
	case SocketErrorCertificateRevoked:
		return WebErrorCertificateRevoked
	case SocketErrorCertificateIsInvalid:
		return WebErrorCertificateIsInvalid
	case SocketErrorCertificateUntrustedRoot, SocketErrorCertificateWrongUsage, SocketErrorCertificateNoRevocationCheck, SocketErrorCertificateRevocationServerOffline:
		return WebErrorCertificateContainsErrors
	case SocketErrorHostNotFound, SocketErrorNoAddressesFound:
		return WebErrorHostNameNotResolved
	case SocketErrorConnectionRefused:
		return WebErrorCannotConnect
	case SocketErrorUnreachableHost, SocketErrorNetworkIsUnreachable, SocketErrorHostIsDown, SocketErrorNetworkIsDown:
		return WebErrorServerUnreachable
	case SocketErrorConnectionTimedOut:
		return WebErrorTimeout
	case SocketErrorConnectionResetByPeer:
		return WebErrorConnectionReset
	case SocketErrorSoftwareCausedConnectionAbort:
		return WebErrorConnectionAborted
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, net.ErrClosed):
		return WebErrorOperationCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return WebErrorTimeout
	}
	return WebErrorUnknown
}
