package transports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
	"github.com/wireplay/wireplay/transports/transportstest"
)

func TestQLogCapturesTraceAndMetrics(t *testing.T) {
	target := transportstest.StartEcho(t, netx.Kernel, "127.0.0.1")
	dir := t.TempDir()
	var metrics atomic.Int64
	q := &transports.QLog{Dir: dir, OnEvent: func(_ *transports.QLogTrace, ev qlogwriter.Event) {
		if m, ok := ev.(qlog.MetricsUpdated); ok && m.CongestionWindow > 0 {
			metrics.Add(1)
		}
	}}
	conf := transports.QUICEchoConfig{}.QUICConfig()
	conf.Tracer = q.Tracer
	target.QUICConfig = conf
	rec := transportstest.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := transports.Dial(ctx, netx.Kernel, protocol.QUICStream, target, transports.ClientOptions{Emit: rec.Emit})
	if err != nil {
		t.Fatal(err)
	}
	c.Send(1, []byte("qlog me"))
	rec.WaitFor(t, 5*time.Second, func(e protocol.Event) bool { return e.Type == protocol.EventComplete })
	c.Close()

	traces := q.Traces()
	if len(traces) != 1 || !traces[0].IsClient {
		t.Fatalf("traces %+v, want one client trace", traces)
	}
	for i := 0; !traces[0].Closed() && i < 250; i++ { // quic-go ends the trace just after Close returns
		time.Sleep(20 * time.Millisecond)
	}
	b := traces[0].Bytes()
	if !traces[0].Closed() || !bytes.Contains(b, []byte("connection_closed")) {
		t.Fatalf("trace closed %v, %d bytes", traces[0].Closed(), len(b))
	}
	if len(b) == 0 || b[0] != qlogwriter.RecordSeparator || !bytes.Contains(b, []byte(`"recovery:metrics_updated"`)) || !bytes.Contains(b, []byte(`"transport:packet_sent"`)) {
		t.Errorf("qlog is not a JSON-SEQ trace with packets and metrics: %q", b[len(b)-min(len(b), 3000):])
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*_client.sqlog"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	if fb, _ := os.ReadFile(files[0]); !bytes.Equal(fb, b) {
		t.Errorf("file (%d bytes) differs from the in-memory trace (%d bytes)", len(fb), len(b))
	}
	if metrics.Load() == 0 {
		t.Error("OnEvent saw no MetricsUpdated")
	}
}

// TestQLogEncodesAsQuicGo: the trace QLog encodes after the fact holds the same events, in the
// same order and with the same data, as quic-go's own JSON-SEQ writer given the same connection.
func TestQLogEncodesAsQuicGo(t *testing.T) {
	target := transportstest.StartEcho(t, netx.Kernel, "127.0.0.1")
	q := &transports.QLog{}
	var theirs bytes.Buffer
	var seq *qlogwriter.FileSeq
	conf := transports.QUICEchoConfig{}.QUICConfig()
	conf.Tracer = transports.JoinTracers(q.Tracer, func(_ context.Context, isClient bool, odcid quic.ConnectionID) qlogwriter.Trace {
		seq = qlogwriter.NewConnectionFileSeq(nopWriteCloser{&theirs}, isClient, odcid)
		go seq.Run()
		return seq
	})
	target.QUICConfig = conf
	rec := transportstest.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := transports.Dial(ctx, netx.Kernel, protocol.QUICStream, target, transports.ClientOptions{Emit: rec.Emit})
	if err != nil {
		t.Fatal(err)
	}
	c.Send(1, []byte("compare me"))
	rec.WaitFor(t, 5*time.Second, func(e protocol.Event) bool { return e.Type == protocol.EventComplete })
	c.Close()
	tr := q.Traces()[0]
	for i := 0; !tr.Closed() && i < 250; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // quic-go's writer drains its queue after the trace ends
	type event struct {
		Name string          `json:"name"`
		Data json.RawMessage `json:"data"`
	}
	read := func(b []byte) []event {
		var out []event
		for i, r := range bytes.Split(b, []byte{qlogwriter.RecordSeparator}) {
			if i < 2 { // before the first separator, and the header
				continue
			}
			var e event
			if err := json.Unmarshal(r, &e); err != nil {
				t.Fatalf("record %q: %v", r, err)
			}
			out = append(out, e)
		}
		return out
	}
	ours, want := read(tr.Bytes()), read(theirs.Bytes())
	if len(ours) == 0 || len(ours) != len(want) {
		t.Fatalf("%d events, quic-go's writer %d", len(ours), len(want))
	}
	for i := range ours {
		if ours[i].Name != want[i].Name || !sameJSON(ours[i].Data, want[i].Data) {
			t.Fatalf("event %d: %s %s, quic-go's writer %s %s", i, ours[i].Name, ours[i].Data, want[i].Name, want[i].Data)
		}
	}
}

type nopWriteCloser struct{ *bytes.Buffer }

func (nopWriteCloser) Close() error { return nil }

// sameJSON compares two JSON values; a time computed from the event's own stamp (a timer's
// delta, taken a few microseconds apart by the two writers) may differ by up to 0.5 ms.
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	var same func(x, y any) bool
	same = func(x, y any) bool {
		switch xv := x.(type) {
		case map[string]any:
			yv, ok := y.(map[string]any)
			if !ok || len(xv) != len(yv) {
				return false
			}
			for k := range xv {
				if !same(xv[k], yv[k]) {
					return false
				}
			}
			return true
		case []any:
			yv, ok := y.([]any)
			if !ok || len(xv) != len(yv) {
				return false
			}
			for i := range xv {
				if !same(xv[i], yv[i]) {
					return false
				}
			}
			return true
		case float64:
			yv, ok := y.(float64)
			if !ok {
				return false
			}
			if xv == math.Trunc(xv) && yv == math.Trunc(yv) {
				return xv == yv
			}
			return math.Abs(xv-yv) <= 0.5
		}
		return x == y
	}
	return same(x, y)
}

// TestQLogMaxBytes: a connection that logs far more than MaxBytes leaves a trace of at most
// MaxBytes, every record of it JSON, ending in the trace_truncated record that says so.
func TestQLogMaxBytes(t *testing.T) {
	target := transportstest.StartEcho(t, netx.Kernel, "127.0.0.1")
	const maxBytes = 64 << 10
	q := &transports.QLog{MaxBytes: maxBytes}
	conf := transports.QUICEchoConfig{}.QUICConfig()
	conf.Tracer = q.Tracer
	target.QUICConfig = conf
	rec := transportstest.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := transports.Dial(ctx, netx.Kernel, protocol.QUICStream, target, transports.ClientOptions{Emit: rec.Emit})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Send(1, make([]byte, 1<<20)) // about 0.9 MB of qlog
	rec.WaitFor(t, 10*time.Second, func(e protocol.Event) bool { return e.Type == protocol.EventComplete })
	tr := q.Traces()[0]
	b := tr.Bytes()
	if len(b) > maxBytes || !tr.Truncated() {
		t.Fatalf("trace %d bytes (cap %d), truncated %v", len(b), maxBytes, tr.Truncated())
	}
	recs := bytes.Split(b, []byte{qlogwriter.RecordSeparator})[1:]
	for i, r := range recs {
		if !json.Valid(r) {
			t.Fatalf("record %d of %d is not JSON: %q", i, len(recs), r)
		}
	}
	var last struct {
		Name string `json:"name"`
		Data struct {
			Reason  string `json:"reason"`
			Kept    int    `json:"events_kept"`
			LeftOut int    `json:"events_left_out"`
		} `json:"data"`
	}
	if err := json.Unmarshal(recs[len(recs)-1], &last); err != nil || last.Name != transports.QLogTruncatedEvent ||
		last.Data.Reason != "max_bytes" || last.Data.Kept != len(recs)-2 || last.Data.LeftOut == 0 {
		t.Fatalf("last record %s (%v), want %s with max_bytes, %d events kept and some left out", recs[len(recs)-1], err, transports.QLogTruncatedEvent, len(recs)-2)
	}
	// More traffic adds nothing: the trace stopped recording.
	c.Send(2, make([]byte, 64<<10))
	rec.WaitFor(t, 10*time.Second, func(e protocol.Event) bool { return e.Type == protocol.EventComplete && e.Req == 2 })
	if b2 := tr.Bytes(); len(b2) > maxBytes || !bytes.Equal(b2[:bytes.LastIndexByte(b2, qlogwriter.RecordSeparator)], b[:bytes.LastIndexByte(b, qlogwriter.RecordSeparator)]) {
		t.Fatalf("after more traffic the trace is %d bytes, or its events changed", len(b2))
	}
}
