package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/wireplay/wireplay/transports"
)

// PublicFlag, PublicEndpointsFlag and DomainFlag are serve's flags, named in the errors below.
const (
	PublicFlag          = "--public"
	PublicEndpointsFlag = "--public-endpoints"
	DomainFlag          = "--domain"
)

// Validate reports a configuration Start would refuse for what it asks, not for what happens
// when it listens: a non-loopback address without Public, Public without TLS, and so on.
func (c Config) Validate() error {
	c.setDefaults()
	if err := c.checkCaps(); err != nil {
		return err
	}
	return c.checkExposure()
}

// checkExposure refuses a configuration that would put the server on a non-loopback address
// without saying so (--public), a public server without TLS, and the raw echo endpoints on a
// public address without --public-endpoints.
func (c *Config) checkExposure() error {
	tlsOn := c.CertFile != "" || c.KeyFile != "" || c.Domain != ""
	if c.Domain != "" && (c.CertFile != "" || c.KeyFile != "") {
		return fmt.Errorf("%s and --cert/--key: give one or the other", DomainFlag)
	}
	if !isLoopback(c.HTTPAddr) {
		if !c.Public {
			return fmt.Errorf("--http-addr %s is not a loopback address: serving beyond this machine needs %s (with TLS: --cert/--key or %s)", c.HTTPAddr, PublicFlag, DomainFlag)
		}
		if !tlsOn {
			return fmt.Errorf("%s needs TLS: --cert and --key, or %s NAME for a certificate from Let's Encrypt", PublicFlag, DomainFlag)
		}
	}
	for _, e := range []struct {
		flag, addr string
		optional   bool // "": off
	}{{"--tcp-addr", c.TCPAddr, false}, {"--udp-addr", c.UDPAddr, false}, {"--quic-addr", c.QUICAddr, false},
		{"--http-lesson-addr", c.HTTPLessonAddr, true}, {"--chat-tcp-addr", c.ChatTCPAddr, true},
		{"--zmq-addr", c.ZMQAddr, true}, {"--zmq-pub-addr", c.ZMQPubAddr, true}} {
		if e.addr == "" && e.optional || isLoopback(e.addr) {
			continue
		}
		if !c.Public || !c.PublicEndpoints {
			return fmt.Errorf("%s %s is not a loopback address: the raw echo endpoints listen beyond this machine only with %s %s (the relay reaches them on loopback either way)", e.flag, e.addr, PublicFlag, PublicEndpointsFlag)
		}
	}
	return nil
}

// isLoopback reports whether the listen address addr names only this machine: a loopback IP or
// "localhost".
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serverTLS is the server's TLS: one certificate for HTTPS, WSS and the QUIC endpoint.
type serverTLS struct {
	quic *tls.Config // the QUIC endpoint's (ALPN wireplay); always set
	http *tls.Config // the page's, or nil: plain HTTP
	acme *autocert.Manager
}

// setUpTLS loads --cert/--key, or prepares ACME for --domain, or makes a self-signed certificate
// for the QUIC endpoint alone (the page then stays plain HTTP, on loopback only).
//
// With ACME the QUIC endpoint also keeps a self-signed certificate for "localhost" (and clients
// that send no name): the relay dials its own endpoint by that name and trusts exactly that
// certificate, since a Let's Encrypt certificate is for the domain, not for loopback.
func (c *Config) setUpTLS() (*serverTLS, error) {
	if c.Domain == "" {
		q, err := transports.ServerTLSConfig(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		st := &serverTLS{quic: q}
		if c.CertFile != "" {
			st.http = httpTLS(q)
		}
		return st, nil
	}
	dir := c.ACMECacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("acme cache directory: %w", err)
		}
		dir = filepath.Join(base, "wireplay", "acme")
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(c.Domain),
		Cache:      autocert.DirCache(dir),
		Email:      c.ACMEEmail,
	}
	self, err := transports.SelfSigned()
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	get := func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if h.ServerName == "" || h.ServerName == "localhost" {
			return &self, nil
		}
		return m.GetCertificate(h)
	}
	q := &tls.Config{Certificates: []tls.Certificate{self}, GetCertificate: get, NextProtos: []string{transports.ALPN}, MinVersion: tls.VersionTLS13}
	h := &tls.Config{GetCertificate: m.GetCertificate, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	return &serverTLS{quic: q, http: h, acme: m}, nil
}

// httpTLS is the page's TLS configuration with the same certificate as q. HTTP/1.1 only: the relay
// and /ws/echo are WebSockets, which browsers open over HTTP/1.1.
func httpTLS(q *tls.Config) *tls.Config {
	h := q.Clone()
	h.NextProtos = []string{"http/1.1"}
	h.MinVersion = tls.VersionTLS12
	return h
}

// serveACME answers Let's Encrypt's HTTP-01 challenges on addr and sends every other plain-HTTP
// request to HTTPS; it returns the server to shut down, or nil without ACME.
func (st *serverTLS) serveACME(addr string, logf func(msg string, args ...any)) (*http.Server, error) {
	if st.acme == nil {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen acme http-01: %w", err)
	}
	srv := &http.Server{Handler: st.acme.HTTPHandler(nil), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("acme http-01 server stopped", "err", err)
		}
	}()
	return srv, nil
}

// contentSecurityPolicy is the policy of every response. The page loads nothing but its own
// files: scripts from /static alone (no inline script, no eval; 'wasm-unsafe-eval' lets the Go
// client be compiled), styles from /static alone (the client sets styles through the CSSOM,
// which no policy governs), fetches and WebSockets to its own origin ('self' matches ws: and
// wss: of the same host and port in CSP Level 3, as Chromium and Firefox do), images from
// itself and data: (the empty icon), no plugins, no <base>, forms to its own origin only (the
// room code's GET /join), no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries: no sniffing, no framing, no referrer,
// the Content-Security-Policy, and HSTS when the page is served over TLS.
func securityHeaders(tlsOn bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		if tlsOn {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
