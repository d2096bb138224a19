package transports

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// ALPN is the application protocol wireplay's QUIC endpoint speaks.
const ALPN = "wireplay"

// ServerTLSConfig loads certFile/keyFile, or makes a self-signed certificate for localhost,
// 127.0.0.1 and ::1 when both are empty.
func ServerTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	switch {
	case certFile != "" && keyFile != "":
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	case certFile == "" && keyFile == "":
		cert, err = SelfSigned()
	default:
		err = fmt.Errorf("both a certificate and a key are needed")
	}
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{ALPN},
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// SelfSigned makes a fresh ECDSA P-256 certificate valid for localhost, 127.0.0.1 and ::1.
func SelfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "wireplay"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// ClientTLSConfig trusts exactly the certificates of server (the relay talking to its own QUIC
// endpoint: whatever names the certificate holds, it is pinned, not checked against a name), or,
// when server is nil, skips verification: `wireplay probe` talks to wireplay servers that make
// their own self-signed certificates.
func ClientTLSConfig(server *tls.Config) *tls.Config {
	c := &tls.Config{NextProtos: []string{ALPN}, MinVersion: tls.VersionTLS13, ServerName: "localhost", InsecureSkipVerify: true}
	if server == nil {
		return c
	}
	pinned := map[string]bool{}
	for _, cert := range server.Certificates {
		if len(cert.Certificate) > 0 {
			pinned[string(cert.Certificate[0])] = true
		}
	}
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 || !pinned[string(cs.PeerCertificates[0].Raw)] {
			return errors.New("server certificate is not the one pinned")
		}
		return nil
	}
	return c
}
