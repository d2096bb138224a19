package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
	"github.com/wireplay/wireplay/transports"
)

func startServer() (*server.Server, error) {
	s := server.New(server.Config{
		HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", QUICAddr: "127.0.0.1:0",
		MaxRelayPerIP: 100000,
		// A benchmark is a flood from one source: lift the UDP endpoint's per-source limit.
		UDPEcho: transports.UDPEchoConfig{PerSourceRate: 1e9, PerSourceBurst: 1e9, GlobalRate: 1e9, GlobalBurst: 1e9},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := s.Start(context.Background()); err != nil {
		return s, err
	}
	// The server reads (and checks) its static files when it starts, ~100 ms of work on a core
	// with the wasm client built: wait for it, as a user's first visit does, so it does not fall
	// in the measurement.
	resp, err := http.Get("http://" + s.Addrs().HTTP + "/static/style.css")
	if err != nil {
		return s, fmt.Errorf("static files: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return s, nil
}

func stopServer(s *server.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Shutdown(ctx)
}

// relayRTT sends one message over t through the relay and waits for its "complete" event. It
// returns when the WebSocket message holding that event arrived: the round trip of the relay's
// path, like the direct echoes' (which have nothing to decode). Decoding the events that came
// back is timed apart, in decode.
func relayRTT(ctx context.Context, c *websocket.Conn, t protocol.Transport, id uint64, req []byte) (arrived time.Time, decode time.Duration, err error) {
	if err := c.Write(ctx, websocket.MessageText, req); err != nil {
		return arrived, 0, err
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return arrived, decode, err
		}
		arrived = time.Now()
		evs, err := protocol.DecodeEvents(b)
		decode += time.Since(arrived)
		if err != nil {
			return arrived, decode, err
		}
		for _, e := range evs {
			switch {
			case e.Type == protocol.EventError:
				return arrived, decode, fmt.Errorf("relay: %s", e.Error)
			case e.Type == protocol.EventComplete && e.Req == id:
				return arrived, decode, nil
			case e.Type == protocol.EventLost && e.Req == id:
				return arrived, decode, context.DeadlineExceeded // retried like a lost raw datagram
			}
		}
	}
}

// Relay benchmarks one message over t through the relay (WebSocket → relay → t's echo → back),
// alternating with a direct coder/websocket echo and a direct echo on t. The metric "ratio" is
// relay / (direct ws + direct t) (goal ≤ 1.2), the relay's round trip ending when the message with
// the "complete" event arrives; "ratio-decoded" also counts the client's JSON decoding of every
// event that came back (the page's own work, which a direct echo does not have).
func Relay(t protocol.Transport) func(*testing.B) {
	return func(b *testing.B) {
		ctx := context.Background()
		s, err := startServer()
		if err != nil {
			b.Fatal(err)
		}
		defer stopServer(s)
		wc, err := transports.DialWS(ctx, netx.Kernel, "ws://"+s.Addrs().HTTP+"/relay", transports.WSOptions{ReadLimit: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		defer wc.CloseNow()
		rc := wc.Conn
		if _, _, err := rc.Read(ctx); err != nil { // welcome
			b.Fatal(err)
		}
		wsSrv, err := startEcho(protocol.WS, Raw)
		if err != nil {
			b.Fatal(err)
		}
		defer wsSrv.close()
		ws, err := dialRaw(protocol.WS, wsSrv)
		if err != nil {
			b.Fatal(err)
		}
		defer ws.close()
		tSrv, err := startEcho(t, Raw)
		if err != nil {
			b.Fatal(err)
		}
		defer tSrv.close()
		direct, err := dialRaw(t, tSrv)
		if err != nil {
			b.Fatal(err)
		}
		defer direct.close()

		id := uint64(0)
		req := func() []byte {
			id++
			r, _ := json.Marshal(protocol.Request{V: protocol.Version, Type: protocol.TypeSend, ID: id,
				Text: string(make64()), Transports: []protocol.Transport{t}})
			return r
		}
		for range 100 {
			r := req()
			relayRTT(ctx, rc, t, id, r)
			ws.rtt()
			direct.rtt()
		}
		var relay, decode, sum time.Duration
		b.ResetTimer()
		for b.Loop() {
			r := req()
			start := time.Now()
			arrived, dec, err := relayRTT(ctx, rc, t, id, r)
			if err != nil && !isTimeout(err) {
				b.Fatal(err)
			}
			mid := time.Now()
			ws.rtt()
			direct.rtt()
			relay += arrived.Sub(start)
			decode += dec
			sum += time.Since(mid)
		}
		reportPair(b, "relay-ns", relay, "direct-sum-ns", sum)
		if sum > 0 {
			b.ReportMetric(float64(relay+decode)/float64(sum), "ratio-decoded")
		}
	}
}

func make64() []byte {
	m := make([]byte, MessageSize)
	for i := range m {
		m[i] = 'a' + byte(i%26)
	}
	return m
}

// IdleConnMemory measures the heap and stack an idle connection costs, client and server side
// together (both run in this process), for n connections at once: relay connections of a page that
// runs no experiment, or, with bare, plain coder/websocket connections whose handler only reads.
// It reports "bytes/conn".
func IdleConnMemory(bare bool, n int) func(*testing.B) {
	return func(b *testing.B) {
		ctx := context.Background()
		url := ""
		if bare {
			srv, err := startHTTP(&echoServer{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				defer c.CloseNow()
				c.Read(r.Context())
			}))
			if err != nil {
				b.Fatal(err)
			}
			defer srv.close()
			url = srv.addr
		} else {
			s, err := startServer()
			if err != nil {
				b.Fatal(err)
			}
			defer stopServer(s)
			url = "ws://" + s.Addrs().HTTP + "/relay"
		}
		var perConn float64
		for b.Loop() {
			before := inUse()
			conns := make([]*transports.WSConn, 0, n)
			for range n {
				c, err := transports.DialWS(ctx, netx.Kernel, url, transports.WSOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if !bare {
					c.Read(ctx) // welcome: the session is set up
				}
				conns = append(conns, c)
			}
			time.Sleep(100 * time.Millisecond) // let handshakes' transient goroutines end
			after := inUse()
			perConn = float64(after-before) / float64(n)
			for _, c := range conns {
				c.CloseNow()
			}
		}
		b.ReportMetric(perConn, "bytes/conn")
	}
}

func inUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}
