//go:build !js

package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a throw-away certificate authority for tests: a root and an
// intermediate that issues the leaves, so chains have the usual shape.
type CA struct {
	Root         *x509.Certificate
	Intermediate *x509.Certificate
	// Pool holds Root alone (what a client trusts).
	Pool *x509.CertPool

	rootKey, interKey *ecdsa.PrivateKey
}

// LeafOptions describe a leaf certificate. Zero values give a server
// certificate for 127.0.0.1 and localhost, valid from an hour ago for a
// day.
type LeafOptions struct {
	// Hosts are DNS names or IP addresses (the SANs).
	Hosts []string
	// NotBefore and NotAfter bound validity.
	NotBefore, NotAfter time.Time
	// Usage is the extended key usage; nil means server authentication.
	Usage []x509.ExtKeyUsage
	// CommonName defaults to the first host.
	CommonName string
}

// NewCA creates a root and an intermediate.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := GenerateCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// GenerateCA is NewCA for programs that have no testing.TB (the servers
// of test/jsapi, run as a process of their own): it returns the error.
func GenerateCA(name string) (*CA, error) {
	rootKey, err := newKey()
	if err != nil {
		return nil, err
	}
	interKey, err := newKey()
	if err != nil {
		return nil, err
	}
	ca := &CA{rootKey: rootKey, interKey: interKey}
	now := time.Now()
	ca.Root, err = sign(&x509.Certificate{
		Subject:   pkix.Name{CommonName: name + " Root"},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, &ca.rootKey.PublicKey, ca.rootKey)
	if err != nil {
		return nil, err
	}
	ca.Intermediate, err = sign(&x509.Certificate{
		Subject:   pkix.Name{CommonName: name + " Intermediate"},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, ca.Root, &ca.interKey.PublicKey, ca.rootKey)
	if err != nil {
		return nil, err
	}
	ca.Pool = x509.NewCertPool()
	ca.Pool.AddCert(ca.Root)
	return ca, nil
}

// RootPEM returns the root certificate in PEM form (for passing to other
// processes, such as a browser test).
func (ca *CA) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Root.Raw})
}

// Leaf issues a leaf certificate from the intermediate; the returned
// tls.Certificate's chain is leaf, intermediate.
func (ca *CA) Leaf(t testing.TB, o LeafOptions) tls.Certificate {
	t.Helper()
	c, err := ca.IssueLeaf(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// IssueLeaf is Leaf without a testing.TB: it returns the error.
func (ca *CA) IssueLeaf(o LeafOptions) (tls.Certificate, error) {
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"127.0.0.1", "localhost"}
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if o.Usage == nil {
		o.Usage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if o.CommonName == "" {
		o.CommonName = o.Hosts[0]
	}
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: o.CommonName},
		NotBefore: o.NotBefore, NotAfter: o.NotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: o.Usage,
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	key, err := newKey()
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := sign(tmpl, ca.Intermediate, &key.PublicKey, ca.interKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw, ca.Intermediate.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// ServerCert issues a server certificate for hosts (default 127.0.0.1 and
// localhost).
func (ca *CA) ServerCert(t testing.TB, hosts ...string) tls.Certificate {
	t.Helper()
	return ca.Leaf(t, LeafOptions{Hosts: hosts})
}

// ExpiredCert issues a server certificate for hosts that expired yesterday.
func (ca *CA) ExpiredCert(t testing.TB, hosts ...string) tls.Certificate {
	t.Helper()
	now := time.Now()
	return ca.Leaf(t, LeafOptions{Hosts: hosts, NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
}

// ClientCert issues a client-authentication certificate for name.
func (ca *CA) ClientCert(t testing.TB, name string) tls.Certificate {
	t.Helper()
	return ca.Leaf(t, LeafOptions{Hosts: []string{name}, Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

// TLSServer serves TLS with cert on 127.0.0.1, running handle on each
// connection after a successful handshake (failed handshakes are dropped).
// clientCAs, when not nil, makes the server require and verify a client
// certificate.
func TLSServer(t testing.TB, cert tls.Certificate, clientCAs *x509.CertPool, handle func(*tls.Conn)) *net.TCPAddr {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10}
	if clientCAs != nil {
		cfg.ClientCAs, cfg.ClientAuth = clientCAs, tls.RequireAndVerifyClientCert
	}
	return ServeTLS(t, cfg, handle)
}

// ServeTLS serves TLS with cfg on 127.0.0.1 (see TLSServer).
func ServeTLS(t testing.TB, cfg *tls.Config, handle func(*tls.Conn)) *net.TCPAddr {
	t.Helper()
	return Serve(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		c.SetDeadline(time.Time{})
		handle(tc)
	})
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func sign(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, by *ecdsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, by)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
