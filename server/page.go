package server

import (
	"net"
	"net/http"

	"github.com/wireplay/wireplay/protocol"
)

// pageInfo is what the page shows about the running server.
type pageInfo struct {
	Addrs Addrs
}

// column describes one transport's column on the page; the wasm client fills it in live.
type column struct {
	T       protocol.Transport
	Label   string
	Kind    string   // one line on what the transport is
	Metrics []string // the stack metric labels shown before the first stats arrive
}

// columns are the page's five columns, in protocol.Transports order.
var columns = []column{
	{protocol.TCP, "TCP", "byte stream · reliable, in order", []string{"rtt", "rttvar", "cwnd", "retrans", "sent", "recv"}},
	{protocol.UDP, "UDP", "datagrams · no handshake · lossy", []string{"sent", "received", "lost", "reordered", "duplicated"}},
	{protocol.QUICStream, "QUIC stream", "stream over QUIC · TLS 1.3", []string{"srtt", "min rtt", "cwnd", "pkts lost", "bytes lost", "pkts sent"}},
	{protocol.QUICDgram, "QUIC datagram", "unreliable datagrams in QUIC", []string{"sent", "received", "lost", "reordered", "duplicated", "srtt", "cwnd", "pkts lost"}},
	{protocol.WS, "WebSocket", "messages over HTTP/1.1 and TCP", []string{"frames out", "frames in", "sent", "recv", "rtt"}},
}

// endpoint is one way to reach an echo endpoint with ordinary tools.
type endpoint struct {
	Label, Cmd string
}

// endpoints lists the commands that reach the server's endpoints. An unspecified listen address
// (0.0.0.0, ::) is shown with the host the browser used to reach the page.
func (p pageInfo) endpoints(reqHost string) []endpoint {
	host, _, err := net.SplitHostPort(reqHost)
	if err != nil {
		host = reqHost
	}
	fix := func(addr string) (h, port string) {
		h, port, err := net.SplitHostPort(addr)
		if err != nil {
			return addr, ""
		}
		if ip := net.ParseIP(h); (h == "" || ip != nil && ip.IsUnspecified()) && host != "" {
			h = host
		}
		return h, port
	}
	join := func(addr string) string {
		h, port := fix(addr)
		if port == "" {
			return h
		}
		return net.JoinHostPort(h, port)
	}
	var eps []endpoint
	if p.Addrs.TCP != "" {
		h, port := fix(p.Addrs.TCP)
		eps = append(eps, endpoint{"TCP", "nc " + h + " " + port})
	}
	if p.Addrs.UDP != "" {
		h, port := fix(p.Addrs.UDP)
		eps = append(eps, endpoint{"UDP", "nc -u " + h + " " + port})
	}
	if p.Addrs.QUIC != "" {
		eps = append(eps, endpoint{"QUIC", "wireplay probe --transport quic-stream --addr " + join(p.Addrs.QUIC)})
	}
	if p.Addrs.HTTP != "" {
		eps = append(eps, endpoint{"WebSocket", "websocat ws://" + join(p.Addrs.HTTP) + "/ws/echo"})
	}
	return eps
}

// newPageHandler renders the page (view.templ): the layout and the empty columns; the Go-wasm
// client (package wasm) connects to /relay and fills them in.
func newPageHandler(info pageInfo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if err := page(columns, info.endpoints(r.Host)).Render(r.Context(), w); err != nil {
			http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
		}
	})
}
