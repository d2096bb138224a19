package rooms_test

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
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/rooms"
)

const benchWait = 30 * time.Second

func inUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

func benchJoin(b *testing.B, url, name, secret string) *websocket.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(protocol.RoomMaxEvent)
	req, _ := json.Marshal(protocol.RoomRequest{V: protocol.Version, Type: protocol.RoomJoin, Name: name, Member: "member-" + name, Secret: secret})
	if err := c.Write(ctx, websocket.MessageText, req); err != nil {
		b.Fatal(err)
	}
	_, data, err := c.Read(ctx)
	if err != nil || !bytes.Contains(data, []byte(`"type":"room"`)) {
		b.Fatalf("join %s: %v %.80s", name, err, data)
	}
	return c
}

func benchRooms(b *testing.B, opts rooms.Options) (*rooms.Rooms, protocol.RoomCreated, string) {
	opts.Token, opts.MaxPerIP, opts.Logger = "t", 4096, quiet
	bus := broker.NewMemory()
	rs := rooms.New(bus, opts)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /r/{code}/ws", rs.ServeWS)
	srv := httptest.NewServer(mux)
	b.Cleanup(func() { rs.Close(); srv.Close(); bus.Close() })
	room, err := rs.Create(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return rs, room, "ws" + strings.TrimPrefix(srv.URL, "http") + "/r/" + room.Code + "/ws"
}

// BenchmarkRoomIdleMember: memory per idle room member, 500 members of one room at once, heap +
// stacks in use after GC divided by 500, client and server side together (both are in this
// process), as chat's BenchmarkIdleMember measures a chat member.
func BenchmarkRoomIdleMember(b *testing.B) {
	const n = 500
	_, _, url := benchRooms(b, rooms.Options{})
	var perConn float64
	round := 0
	for b.Loop() {
		round++
		before := inUse()
		conns := make([]*websocket.Conn, 0, n)
		for i := range n {
			conns = append(conns, benchJoin(b, url, fmt.Sprintf("r%d-m%04d", round, i), ""))
		}
		time.Sleep(100 * time.Millisecond) // let the joins' writers end
		perConn = float64(inUse()-before) / n
		for _, c := range conns {
			c.CloseNow()
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.ReportMetric(perConn, "bytes/member")
}

// BenchmarkRoomLessonEvent: one op is one event of the instructor's run reaching all 1,000
// members of a room over real WebSocket connections on loopback (in-process broker), one op after
// the other; p50 and p99 are over every member's delivery of every op, from the lesson's progress
// call to the member's read. The lesson is scripted: it sends an event when the benchmark asks.
func BenchmarkRoomLessonEvent(b *testing.B) {
	const members = 1000
	next := make(chan int64)
	script := func(protocol.ScenarioRequest) (func(context.Context, func(protocol.Event)) (*protocol.ScenarioReport, error), error) {
		return func(ctx context.Context, progress func(protocol.Event)) (*protocol.ScenarioReport, error) {
			for {
				select {
				case op := <-next:
					progress(protocol.Event{Type: protocol.EventWrite, Msg: uint64(op), Text: "op", AtMicros: time.Now().UnixNano()})
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}, nil
	}
	_, room, url := benchRooms(b, rooms.Options{Runner: script})
	inst := benchJoin(b, url, "teacher", room.Secret)
	conns := []*websocket.Conn{inst}
	for i := 1; i < members; i++ {
		conns = append(conns, benchJoin(b, url, fmt.Sprintf("m%04d", i), ""))
	}
	var (
		want    atomic.Int64
		left    atomic.Int64
		done    = make(chan struct{}, 1)
		latMu   sync.Mutex
		lat     []time.Duration
		readers sync.WaitGroup
	)
	marker, msgKey, atKey := []byte(`"type":"lesson_event"`), []byte(`"msg":`), []byte(`"at_us":`)
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
				if !bytes.Contains(data, marker) {
					continue
				}
				// The event's "msg" and "at_us" (the send time, in ns here), read without decoding
				// the whole event: the readers share the CPU with the server.
				var op, sent int64
				if i := bytes.Index(data, msgKey); i >= 0 {
					fmt.Sscanf(string(data[i+len(msgKey):]), "%d", &op)
				}
				if i := bytes.Index(data, atKey); i >= 0 {
					fmt.Sscanf(string(data[i+len(atKey):]), "%d", &sent)
				}
				if op != want.Load() {
					continue
				}
				if op > 0 {
					mine = append(mine, time.Duration(time.Now().UnixNano()-sent))
				}
				if left.Add(-1) == 0 {
					done <- struct{}{}
				}
			}
		})
	}
	req, _ := json.Marshal(protocol.RoomRequest{V: protocol.Version, Type: protocol.RoomRun, Run: &protocol.ScenarioRequest{Name: "script"}})
	if err := inst.Write(context.Background(), websocket.MessageText, req); err != nil {
		b.Fatal(err)
	}
	send := func(op int64) {
		want.Store(op)
		left.Store(members)
		next <- op
		select {
		case <-done:
		case <-time.After(benchWait):
			b.Fatalf("op %d: %d members never got it", op, left.Load())
		}
	}
	send(0) // warm-up: after it, every join notice has been read
	var op int64
	for b.Loop() {
		op++
		send(op)
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
}
