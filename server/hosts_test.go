package server_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/server"
)

// rawGet sends one GET with the given Host and extra header lines over a plain TCP connection
// (as a rebinding page's browser would: its own name as Host, a matching Origin) and returns the
// response status.
func rawGet(t *testing.T, addr, path, host string, extra ...string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + strings.Join(extra, "") + "Connection: close\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", path, host, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHostRebinding: a Host the server does not answer for is refused (421) on every path — the
// page, /relay and /ws/echo with a matching Origin (what DNS rebinding sends) — while its own
// address, localhost names and --allow-host names are served.
func TestHostRebinding(t *testing.T) {
	s := startServer(t, server.Config{AllowHosts: []string{"Workshop.Example.org"}})
	addr := s.Addrs().HTTP
	_, port, _ := net.SplitHostPort(addr)
	upgrade := func(origin string) []string {
		return []string{
			"Origin: " + origin + "\r\n",
			"Upgrade: websocket\r\n", "Connection: Upgrade\r\n",
			"Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
		}
	}
	for _, c := range []struct {
		host string
		want int // for /relay and /ws/echo with a matching Origin
	}{
		{"evil.example:" + port, http.StatusMisdirectedRequest},
		{"evil.example", http.StatusMisdirectedRequest},
		{"localhost.evil.example:" + port, http.StatusMisdirectedRequest},
		{"10.9.8.7:" + port, http.StatusMisdirectedRequest},
		{addr, http.StatusSwitchingProtocols},
		{"127.0.0.2:" + port, http.StatusSwitchingProtocols}, // loopback listener: any loopback IP
		{"localhost:" + port, http.StatusSwitchingProtocols},
		{"app.localhost:" + port, http.StatusSwitchingProtocols},
		{"workshop.example.org:" + port, http.StatusSwitchingProtocols},
		{"WORKSHOP.example.org.:" + port, http.StatusSwitchingProtocols},
	} {
		for _, path := range []string{"/relay", "/ws/echo"} {
			if got := rawGet(t, addr, path, c.host, upgrade("http://"+c.host)...); got != c.want {
				t.Errorf("%s with Host %s and a matching Origin: status %d, want %d", path, c.host, got, c.want)
			}
		}
		page := http.StatusOK
		if c.want != http.StatusSwitchingProtocols {
			page = c.want
		}
		for _, path := range []string{"/", "/healthz", "/relay/limits"} {
			if got := rawGet(t, addr, path, c.host); got != page {
				t.Errorf("%s with Host %s: status %d, want %d", path, c.host, got, page)
			}
		}
	}
}
