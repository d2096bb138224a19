package transports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/quic-go/quic-go/qlogwriter/jsontext"
)

// QLog captures quic-go's qlog for every connection made with its Tracer. Each event is kept in
// memory as quic-go hands it over (quic-go's events are safe to hold) and encoded as JSON-SEQ
// (the .sqlog files qvis opens) only when the trace is read: Bytes, WriteDir, or the trace's
// file in Dir, written when its connection ends. So recording costs a connection an append, not
// a JSON encoding, and no file is written while it runs. Each event is also passed to OnEvent as
// it happens, for live charts.
type QLog struct {
	// Dir, when not empty, receives one .sqlog file per connection (FileName), written when the
	// connection's trace ends.
	Dir string
	// MaxEvents bounds each trace (DefaultQLogMaxEvents when 0): a trace that outgrows it keeps
	// its first events and QLogTrace.Truncated says so.
	MaxEvents int
	// MaxTraces, when more than 0, bounds how many traces are kept: the oldest are forgotten
	// (a long-lived server endpoint's).
	MaxTraces int
	// OnEvent, when set, sees every event (qlog.MetricsUpdated, qlog.PacketSent, qlog.PacketLost, …).
	// It is called on quic-go's goroutines and must not block.
	OnEvent func(t *QLogTrace, ev qlogwriter.Event)

	mu     sync.Mutex
	traces []*QLogTrace
}

// DefaultQLogMaxEvents is QLog.MaxEvents's default: about 32 MiB of JSON (a connection that
// moves 2 MB logs about 4,000 events, 1 MB).
const DefaultQLogMaxEvents = 1 << 17

// QLogTrace is one connection's qlog.
type QLogTrace struct {
	IsClient bool
	ODCID    quic.ConnectionID
	// Label is set by the caller (e.g. the transport name) to tell traces apart.
	Label string

	q   *QLog
	ref time.Time // the header's reference time, which event times count from

	mu        sync.Mutex
	pending   []qlogEvent // recorded, not yet encoded
	recorded  int
	max       int
	producers int
	truncated bool
	closed    bool
	done      chan struct{} // closed once the trace has ended and its file is written

	encMu sync.Mutex // encodes pending events into out
	out   bytes.Buffer
	enc   *jsontext.Encoder
}

type qlogEvent struct {
	at time.Time
	ev qlogwriter.Event
}

// Tracer is a quic.Config.Tracer.
func (q *QLog) Tracer(_ context.Context, isClient bool, odcid quic.ConnectionID) qlogwriter.Trace {
	t := &QLogTrace{IsClient: isClient, ODCID: odcid, q: q, max: q.MaxEvents, done: make(chan struct{})}
	if t.max <= 0 {
		t.max = DefaultQLogMaxEvents
	}
	// quic-go's own writer makes the header (with the event schemas registered); its reference
	// time is when it was made.
	qlogwriter.NewConnectionFileSeq(nopCloser{&t.out}, isClient, odcid)
	var hdr struct {
		Trace struct {
			Common struct {
				Ref struct {
					Wall time.Time `json:"wall_clock_time"`
				} `json:"reference_time"`
			} `json:"common_fields"`
		} `json:"trace"`
	}
	_ = json.Unmarshal(bytes.TrimPrefix(t.out.Bytes(), []byte{qlogwriter.RecordSeparator}), &hdr)
	t.ref = hdr.Trace.Common.Ref.Wall
	if t.ref.IsZero() {
		t.ref = time.Now()
	}
	t.enc = jsontext.NewEncoder(&t.out)
	q.mu.Lock()
	q.traces = append(q.traces, t)
	if q.MaxTraces > 0 && len(q.traces) > q.MaxTraces {
		q.traces = slices.Delete(q.traces, 0, len(q.traces)-q.MaxTraces)
	}
	q.mu.Unlock()
	return t
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// FileName is the trace's file name: <odcid>_<client|server>.sqlog.
func (t *QLogTrace) FileName() string {
	side := "server"
	if t.IsClient {
		side = "client"
	}
	return fmt.Sprintf("%s_%s.sqlog", t.ODCID, side)
}

// WriteDir writes every trace to dir (made if need be), one FileName each: whole for the
// connections that have closed, the events so far for the others.
func (q *QLog) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write qlog: %w", err)
	}
	for _, t := range q.Traces() {
		if err := os.WriteFile(filepath.Join(dir, t.FileName()), t.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write qlog: %w", err)
		}
	}
	return nil
}

// Traces returns the traces recorded so far, oldest first.
func (q *QLog) Traces() []*QLogTrace {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*QLogTrace(nil), q.traces...)
}

// AddProducer implements qlogwriter.Trace.
func (t *QLogTrace) AddProducer() qlogwriter.Recorder {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.producers++
	return &recorder{t: t}
}

// Bytes returns the JSON-SEQ qlog recorded so far (whole once the connection has closed, unless
// Truncated), encoding the events not yet encoded.
func (t *QLogTrace) Bytes() []byte {
	t.encMu.Lock()
	defer t.encMu.Unlock()
	t.mu.Lock()
	evs := t.pending
	t.pending = nil
	t.mu.Unlock()
	for _, e := range evs {
		t.encode(e)
	}
	return bytes.Clone(t.out.Bytes())
}

// encode appends one event record as quic-go's own writer does; t.encMu held. An event that
// fails to encode is left out.
func (t *QLogTrace) encode(e qlogEvent) {
	mark := t.out.Len()
	t.out.WriteByte(qlogwriter.RecordSeparator)
	tok := []jsontext.Token{jsontext.BeginObject,
		jsontext.String("time"), jsontext.Float(float64(e.at.Sub(t.ref).Nanoseconds()) / 1e6),
		jsontext.String("name"), jsontext.String(e.ev.Name()), jsontext.String("data")}
	var err error
	for _, k := range tok {
		if err = t.enc.WriteToken(k); err != nil {
			break
		}
	}
	if err == nil {
		err = e.ev.Encode(t.enc, e.at)
	}
	if err == nil {
		err = t.enc.WriteToken(jsontext.EndObject)
	}
	if err != nil {
		t.out.Truncate(mark)
		t.enc = jsontext.NewEncoder(&t.out)
	}
}

// Truncated says the trace outgrew QLog.MaxEvents: it holds its first events only.
func (t *QLogTrace) Truncated() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.truncated
}

// Done is closed once the connection's trace has ended and, with QLog.Dir, its file is
// written.
func (t *QLogTrace) Done() <-chan struct{} { return t.done }

// Closed says the connection's trace has ended: Bytes is whole.
func (t *QLogTrace) Closed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// recorder is one producer of a trace.
type recorder struct{ t *QLogTrace }

func (r *recorder) RecordEvent(ev qlogwriter.Event) {
	t := r.t
	now := time.Now()
	t.mu.Lock()
	if t.recorded < t.max {
		t.pending = append(t.pending, qlogEvent{now, ev})
		t.recorded++
	} else {
		t.truncated = true
	}
	t.mu.Unlock()
	if f := t.q.OnEvent; f != nil {
		f(t, ev)
	}
}

// Close ends the producer; when it is the trace's last, the trace is whole and goes to its file
// in QLog.Dir.
func (r *recorder) Close() error {
	t := r.t
	t.mu.Lock()
	t.producers--
	last := t.producers == 0 && !t.closed
	if last {
		t.closed = true
	}
	t.mu.Unlock()
	if !last {
		return nil
	}
	defer close(t.done)
	if t.q.Dir != "" {
		if err := os.WriteFile(filepath.Join(t.q.Dir, t.FileName()), t.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write qlog: %w", err)
		}
	}
	return nil
}

var _ = qlog.EventSchema // the quic event schema is registered by importing qlog

// Tracer is a quic.Config.Tracer.
type Tracer = func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace

// JoinTracers returns a tracer that gives every event to each of the tracers that is not nil
// (nil when none is).
func JoinTracers(tracers ...Tracer) Tracer {
	tracers = slices.DeleteFunc(slices.Clone(tracers), func(t Tracer) bool { return t == nil })
	switch len(tracers) {
	case 0:
		return nil
	case 1:
		return tracers[0]
	}
	return func(ctx context.Context, isClient bool, odcid quic.ConnectionID) qlogwriter.Trace {
		var ts joinedTrace
		for _, t := range tracers {
			if tr := t(ctx, isClient, odcid); tr != nil {
				ts = append(ts, tr)
			}
		}
		return ts
	}
}

type joinedTrace []qlogwriter.Trace

func (j joinedTrace) AddProducer() qlogwriter.Recorder {
	var rs joinedRecorder
	for _, t := range j {
		if r := t.AddProducer(); r != nil {
			rs = append(rs, r)
		}
	}
	return rs
}

type joinedRecorder []qlogwriter.Recorder

func (j joinedRecorder) RecordEvent(ev qlogwriter.Event) {
	for _, r := range j {
		r.RecordEvent(ev)
	}
}

func (j joinedRecorder) Close() error {
	var errs []error
	for _, r := range j {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}
