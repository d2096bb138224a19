package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"

	"github.com/wireplay/wireplay/protocol"
)

// pageInfo is what the page shows about the running server.
type pageInfo struct {
	Addrs  Addrs
	Static *staticFiles // for the versioned URLs of the stylesheet and the client; nil: plain URLs
	TLS    bool         // the page is served over HTTPS (so the WebSocket echo is wss://)
	// Room is the workshop room's code when the page is served at /r/CODE (room mode: the page
	// joins /r/CODE/ws and /r/CODE/chat); "" on the ordinary page.
	Room string
}

// pageAssets are the URLs the page loads its stylesheet, Go's wasm loader, the script that starts
// the client (boot.js: the page has no inline script, which its Content-Security-Policy forbids)
// and the client from.
type pageAssets struct {
	CSS, Loader, Boot, Wasm string
}

func (p pageInfo) assets() pageAssets {
	return pageAssets{CSS: p.Static.url("style.css"), Loader: p.Static.url("wasm_exec.js"), Boot: p.Static.url("boot.js"), Wasm: p.Static.url("main.wasm")}
}

// column describes one transport's column on the page; the wasm client fills it in live.
type column struct {
	T       protocol.Transport
	Label   string
	Kind    string   // one line on what the transport is
	Metrics []string // the stack metric labels shown before the first stats arrive
}

// Local says the column is one of protocol.Local's: beside the network, kernel mode only.
func (c column) Local() bool { return c.T.IsLocal() }

// columns are the page's columns: the five of protocol.Transports, then protocol.Local's two.
var columns = []column{
	{protocol.TCP, "TCP", "byte stream · reliable, in order", []string{"rtt", "rttvar", "cwnd", "retrans client", "sent", "recv", "retrans server"}},
	{protocol.UDP, "UDP", "datagrams · no handshake · lossy", []string{"sent", "received", "lost", "reordered", "duplicated"}},
	{protocol.QUICStream, "QUIC stream", "stream over QUIC · TLS 1.3", []string{"srtt", "min rtt", "cwnd", "pkts sent", "ack-detected lost (client)"}},
	{protocol.QUICDgram, "QUIC datagram", "unreliable datagrams in QUIC", []string{"sent", "received", "lost", "reordered", "duplicated", "srtt", "cwnd", "ack-detected lost (client)"}},
	{protocol.WS, "WebSocket", "messages over HTTP/1.1 and TCP", []string{"frames out", "frames in", "sent", "recv", "rtt"}},
	// The local transports (protocol.Local), kernel mode only: no stack, so no metrics.
	{protocol.Unix, "Unix stream", "byte stream · a file path, no IP · kernel mode only", nil},
	{protocol.Pipe, "pipe", "two kernel pipes, no socket · kernel mode only", nil},
}

// impField is one per-direction setting of the emulated link in the page's "advanced" panel; the
// wasm client reads and fills the inputs named "up-"+Key and "down-"+Key.
type impField struct {
	Key   string // the input's id suffix: delay, jitter, reorder, loss, dup, rate, queue, drop
	Label string
	Unit  string
	Help  string
	Check bool // a checkbox rather than a number
	Max   string
	Step  string
}

// impFields are the emulated link's per-direction settings (protocol.Impairment), in display order.
var impFields = []impField{
	{Key: "delay", Label: "delay", Unit: "ms", Help: "one-way delay added to every packet", Max: "5000", Step: "any"},
	{Key: "jitter", Label: "jitter", Unit: "ms", Help: "random ± variation of the delay (at most the delay)", Max: "5000", Step: "any"},
	{Key: "reorder", Label: "reorder", Help: "let jitter reorder packets (otherwise they keep their order)", Check: true},
	{Key: "loss", Label: "loss", Unit: "%", Help: "chance that a packet is dropped", Max: "100", Step: "any"},
	{Key: "dup", Label: "duplicate", Unit: "%", Help: "chance that a packet is delivered twice", Max: "100", Step: "any"},
	{Key: "rate", Label: "rate", Unit: "kbit/s", Help: "bandwidth limit; 0 is unlimited", Max: "10000000", Step: "1"},
	{Key: "queue", Label: "queue", Unit: "pkts", Help: "packets the rate limiter may queue before dropping; 0 is the default", Max: "100000", Step: "1"},
	{Key: "drop", Label: "drop packet #", Unit: "k", Help: "drop the k-th packet of this direction from now on, once (1 = the next one)", Max: "1000000", Step: "1"},
}

// holTransports are the transports of the head-of-line experiment, in display order.
var holTransports = []column{columns[0], columns[2], columns[1], columns[4]}

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
	switch {
	case p.TLS && reqHost != "":
		eps = append(eps, endpoint{"WebSocket", "websocat wss://" + reqHost + "/ws/echo"}) // the name the certificate is for
	case p.Addrs.HTTP != "":
		eps = append(eps, endpoint{"WebSocket", "websocat ws://" + join(p.Addrs.HTTP) + "/ws/echo"})
	}
	return eps
}

// newPageHandler renders the page (view.templ): the layout and the empty columns; the Go-wasm
// client (package wasm) connects to /relay and fills them in. The page is revalidated on every
// visit (no-cache, a strong ETag from its bytes, If-None-Match → 304) and gzipped when the
// request accepts it; it links the static files by versioned URL, so they are not.
func newPageHandler(info pageInfo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := page(columns, info.endpoints(r.Host), impFields, holTransports, info.assets(), info.Room).Render(r.Context(), &buf); err != nil {
			http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("Vary", "Accept-Encoding")
		h.Set("X-Content-Type-Options", "nosniff")
		sum := sha256.Sum256(buf.Bytes())
		tag := hex.EncodeToString(sum[:8])
		v := encoded{etag: `"` + tag + `"`, body: buf.Bytes()}
		if chooseCoding(r.Header.Get("Accept-Encoding"), []string{"", "gzip"}) == 1 {
			var z bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed) // a valid level: no error
			zw.Write(buf.Bytes())
			zw.Close()
			v = encoded{coding: "gzip", etag: `"` + tag + `.gz"`, body: z.Bytes()}
		}
		serveEncoded(w, r, v)
	})
}

// holKind says how the head-of-line experiment's three streams travel over t.
func holKind(t protocol.Transport) string {
	switch t {
	case protocol.TCP:
		return "3 streams multiplexed on one connection"
	case protocol.QUICStream:
		return "3 QUIC streams of one connection"
	case protocol.UDP:
		return "3 flows of datagrams, no retransmission"
	case protocol.WS:
		return "3 streams over one WebSocket (on TCP)"
	}
	return ""
}
