package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
	"github.com/wireplay/wireplay/transports"
)

// testCA is a certificate authority made for one test and a server certificate it signed for
// localhost, 127.0.0.1 and ::1, written as PEM files.
type testCA struct {
	pool              *x509.CertPool
	certFile, keyFile string
	spki              string // base64 SHA-256 of the server certificate's public key (Chromium's --ignore-certificate-errors-spki-list)
}

func newTestCA(t testing.TB) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wireplay test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := testCA{pool: x509.NewCertPool(), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	c.pool.AddCert(ca)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if err := os.WriteFile(c.certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	c.spki = base64.StdEncoding.EncodeToString(sum[:])
	return c
}

func (c testCA) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.pool}}}
}

// TestTLSMode: given --cert/--key on loopback, the page is HTTPS (with HSTS and the other
// security headers), the relay WSS, and the QUIC endpoint presents the same certificate; a
// message through the WSS relay travels every transport.
func TestTLSMode(t *testing.T) {
	ca := newTestCA(t)
	s := startServer(t, server.Config{CertFile: ca.certFile, KeyFile: ca.keyFile})
	if !s.TLS() {
		t.Fatal("TLS() false with a certificate")
	}
	addr := s.Addrs().HTTP
	resp, err := ca.client().Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("https page: %v", err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 200 || resp.TLS == nil || !strings.Contains(h.Get("Strict-Transport-Security"), "max-age=") ||
		h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("https page: %d, headers %v", resp.StatusCode, h)
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain http on the TLS port served the page")
		}
	}

	ctx := testCtx(t, 20*time.Second)
	c, _, err := websocket.Dial(ctx, "wss://"+addr+"/relay", &websocket.DialOptions{HTTPClient: ca.client()})
	if err != nil {
		t.Fatalf("dial wss relay: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(protocol.MaxReportMessage) // the welcome lists the lessons
	rc := &relayClient{t: t, c: c}
	if e := rc.next(); e.Type != protocol.EventWelcome {
		t.Fatalf("first event over wss %+v, want welcome", e)
	}
	rc.send(protocol.Request{Type: protocol.TypeSend, ID: 1, Text: "over tls"})
	done := map[protocol.Transport]bool{}
	rc.until(func(e protocol.Event) bool {
		if e.Type == protocol.EventError || e.Type == protocol.EventLost {
			t.Errorf("%s: %+v", e.Transport, e)
		}
		if e.Type == protocol.EventComplete && e.Text == "over tls" {
			done[e.Transport] = true
		}
		return len(done) == len(protocol.Transports)
	})

	// The QUIC endpoint: the same certificate, verified against the CA.
	qc, err := transports.DialQUIC(ctx, netx.Kernel, s.Addrs().QUIC, transports.QUICOptions{
		TLS: &tls.Config{RootCAs: ca.pool, ServerName: "localhost", NextProtos: []string{transports.ALPN}}})
	if err != nil {
		t.Fatalf("quic endpoint with the CA: %v", err)
	}
	qc.Close()
}

// TestValidateExposure: serving beyond loopback takes --public, --public takes TLS, and the raw
// endpoints stay on loopback without --public-endpoints; caps that refuse everyone are refused.
func TestValidateExposure(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  server.Config
		want string // in the error; "" for none
	}{
		{"defaults", server.Config{}, ""},
		{"localhost", server.Config{HTTPAddr: "localhost:0"}, ""},
		{"all addresses", server.Config{HTTPAddr: ":8080"}, "--public"},
		{"0.0.0.0", server.Config{HTTPAddr: "0.0.0.0:8080"}, "--public"},
		{"public without tls", server.Config{HTTPAddr: "0.0.0.0:8080", Public: true}, "needs TLS"},
		{"public with a certificate", server.Config{HTTPAddr: "0.0.0.0:8080", Public: true, CertFile: "c", KeyFile: "k"}, ""},
		{"public with a domain", server.Config{HTTPAddr: "0.0.0.0:443", Public: true, Domain: "w.example"}, ""},
		{"domain and certificate", server.Config{Domain: "w.example", CertFile: "c", KeyFile: "k"}, "one or the other"},
		{"public tcp echo", server.Config{HTTPAddr: "0.0.0.0:443", Public: true, Domain: "w.example", TCPAddr: "0.0.0.0:7001"}, "--public-endpoints"},
		{"public endpoints", server.Config{HTTPAddr: "0.0.0.0:443", Public: true, PublicEndpoints: true, Domain: "w.example", UDPAddr: "[::]:7002"}, ""},
		{"endpoints without public", server.Config{PublicEndpoints: true, QUICAddr: "0.0.0.0:7003"}, "--public"},
		{"negative per-client cap", server.Config{MaxConnsPerIP: -1}, "--max-conns-per-ip -1: want at least 1"},
		{"negative handshake cap", server.Config{QUICMaxHandshakes: -5}, "--quic-max-handshakes -5: want at least 1"},
		{"retry never", server.Config{QUICRetryThreshold: -1}, ""},
	} {
		err := c.cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}
