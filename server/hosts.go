package server

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// hostGuard refuses requests whose Host is not a name this server answers for. Without it any web
// site could rebind its own name to 127.0.0.1 and drive a visitor's local server: the browser
// would send the site's name as Host and a matching Origin, which coder/websocket's Origin check
// (Origin against Host) accepts.
//
// Answered for: an IP literal of the listen address (of any local interface when it listens on
// every address, and any loopback address when it listens on one), "localhost" and names under
// ".localhost" (RFC 6761: they resolve to loopback only), and the names given in Config.AllowHosts.
// An IP literal cannot be rebound, so these are safe.
type hostGuard struct {
	names map[string]bool
	ips   map[string]bool
	loop  bool // any loopback address
	next  http.Handler
}

// AllowHostFlag is the serve flag naming extra Host names, quoted in the refusal.
const AllowHostFlag = "--allow-host"

func newHostGuard(listen string, allow []string, next http.Handler) (*hostGuard, error) {
	g := &hostGuard{names: map[string]bool{}, ips: map[string]bool{}, next: next}
	for _, h := range allow {
		n := normalHost(h)
		if n == "" || strings.ContainsAny(n, "/ ") {
			return nil, fmt.Errorf("allow host %q: want a host name such as wireplay.example.org", h)
		}
		g.names[n] = true
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", listen, err)
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		g.names[normalHost(host)] = true
	case ip.IsUnspecified():
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return nil, fmt.Errorf("interface addresses: %w", err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				g.ips[n.IP.String()] = true
			}
		}
		g.loop = true
	default:
		g.ips[ip.String()] = true
		g.loop = ip.IsLoopback()
	}
	return g, nil
}

// normalHost lower-cases h and strips a port, brackets and a trailing dot.
func normalHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(h, ".")
}

func (g *hostGuard) allowed(hostHeader string) bool {
	h := normalHost(hostHeader)
	if h == "" {
		return false
	}
	if ip := net.ParseIP(h); ip != nil {
		return g.ips[ip.String()] || (g.loop && ip.IsLoopback())
	}
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || g.names[h]
}

func (g *hostGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.allowed(r.Host) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusMisdirectedRequest)
		fmt.Fprintf(w, "host %q is not a name this server answers for (start it with %s NAME to add one)\n", r.Host, AllowHostFlag)
		return
	}
	g.next.ServeHTTP(w, r)
}
