package transports_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

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
	var b []byte
	for range 100 { // the trace is flushed by its writer goroutine after close
		if b = traces[0].Bytes(); bytes.Contains(b, []byte("connection_closed")) {
			break
		}
		time.Sleep(20 * time.Millisecond)
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
