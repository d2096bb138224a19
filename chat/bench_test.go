package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/chat"
	"github.com/wireplay/wireplay/protocol"
)

func inUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

func benchDial(b *testing.B, url string) *websocket.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(protocol.ChatMaxEvent)
	return c
}

func benchJoin(b *testing.B, url, name string) *websocket.Conn {
	c := benchDial(b, url)
	req, _ := json.Marshal(protocol.ChatRequest{V: protocol.Version, Type: protocol.ChatJoin, Name: name})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, req); err != nil {
		b.Fatal(err)
	}
	_, data, err := c.Read(ctx)
	if err != nil || !bytes.Contains(data, []byte(`"type":"welcome"`)) {
		b.Fatalf("join %s: %v %.80s", name, err, data)
	}
	return c
}

// BenchmarkIdleMember: memory per idle chat member beside a bare coder/websocket connection, 500
// connections open at once, heap + stacks in use after GC divided by 500, client and server side
// together (both are in this process). Chat members joined one room and read their welcome.
func BenchmarkIdleMember(b *testing.B) {
	const n = 500
	for _, bare := range []bool{true, false} {
		name := map[bool]string{true: "bare-websocket", false: "chat-member"}[bare]
		b.Run(name, func(b *testing.B) {
			var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				defer c.CloseNow()
				c.Read(context.Background())
			})
			var hub *chat.Hub
			if !bare {
				hub = chat.NewHub(broker.NewMemory(), chat.Options{})
				h = &chat.Handler{Hub: hub}
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			if hub != nil {
				defer hub.Close()
			}
			url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?room=R1"
			var perConn float64
			for b.Loop() {
				before := inUse()
				conns := make([]*websocket.Conn, 0, n)
				for i := range n {
					if bare {
						conns = append(conns, benchDial(b, url))
					} else {
						conns = append(conns, benchJoin(b, url, fmt.Sprintf("m%04d", i)))
					}
				}
				time.Sleep(100 * time.Millisecond) // let the joins' writers and handshakes end
				perConn = float64(inUse()-before) / n
				for _, c := range conns {
					c.CloseNow()
				}
				time.Sleep(100 * time.Millisecond)
			}
			b.ReportMetric(perConn, "bytes/conn")
		})
	}
}

// BenchmarkFanout: one op is one message from one member reaching every member of a room of
// 1,000 (the sender too), over real WebSocket connections on loopback; p50 and p99 are over every
// member's delivery of every op (from the send to the member's read). "memory" is one hub on the
// in-process broker; "nats" is two hubs, 500 members each, on two connections to one in-process
// nats-server, the sender on the first.
func BenchmarkFanout(b *testing.B) {
	const members = 1000
	for _, name := range []string{"memory", "nats"} {
		b.Run(name, func(b *testing.B) {
			var bus func() broker.Broker
			if name == "memory" {
				m := broker.NewMemory()
				bus = func() broker.Broker { return m }
			} else {
				bus = natsBusB(b)
			}
			hubs := 1
			if name == "nats" {
				hubs = 2
			}
			var urls []string
			for range hubs {
				hub := chat.NewHub(bus(), chat.Options{PerSecond: 1e9, Burst: 1 << 30})
				srv := httptest.NewServer(&chat.Handler{Hub: hub})
				b.Cleanup(func() { hub.Close(); srv.Close() })
				urls = append(urls, "ws"+strings.TrimPrefix(srv.URL, "http")+"/?room=R1")
			}
			var (
				t0      atomic.Int64 // UnixNano of the current op's send
				want    atomic.Int64 // the op each reader waits for
				left    atomic.Int64 // members yet to receive it
				done    = make(chan struct{}, 1)
				latMu   sync.Mutex
				lat     []time.Duration
				conns   []*websocket.Conn
				readers sync.WaitGroup
			)
			for i := range members {
				c := benchJoin(b, urls[i%hubs], fmt.Sprintf("m%04d", i))
				conns = append(conns, c)
			}
			// Every join's notices are out once each member has read the others' joins; a
			// first message, read by all, marks the end of them.
			marker := []byte(`"text":"op`)
			for _, c := range conns {
				readers.Go(func() {
					var mine []time.Duration
					defer func() {
						latMu.Lock()
						lat = append(lat, mine...)
						latMu.Unlock()
					}()
					for {
						_, data, err := c.Read(context.Background())
						if err != nil {
							return
						}
						i := bytes.Index(data, marker)
						if i < 0 {
							continue
						}
						var op int64
						fmt.Sscanf(string(data[i+len(marker):]), "%d", &op)
						if op != want.Load() {
							continue
						}
						if op > 0 {
							mine = append(mine, time.Duration(time.Now().UnixNano()-t0.Load()))
						}
						if left.Add(-1) == 0 {
							done <- struct{}{}
						}
					}
				})
			}
			sender := conns[0]
			say := func(op int64) {
				want.Store(op)
				left.Store(members)
				req, _ := json.Marshal(protocol.ChatRequest{V: protocol.Version, Type: protocol.ChatSay, Text: fmt.Sprintf("op%d", op)})
				t0.Store(time.Now().UnixNano())
				if err := sender.Write(context.Background(), websocket.MessageText, req); err != nil {
					b.Fatal(err)
				}
				select {
				case <-done:
				case <-time.After(wait):
					b.Fatalf("op %d: %d members never got it", op, left.Load())
				}
			}
			say(0) // warm-up: after it, every join notice has been read
			var op int64
			for b.Loop() {
				op++
				say(op)
			}
			for _, c := range conns {
				c.CloseNow()
			}
			readers.Wait()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}
