package transports

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
)

// QLog captures quic-go's qlog for every connection made with its Tracer: each trace as JSON-SEQ
// (the .sqlog files qvis opens), kept in memory (at most MaxBytes a trace) and, when Dir is set,
// also written to Dir/<odcid>_<client|server>.sqlog through a buffer as it goes; WriteDir writes
// the traces kept in memory to a directory later, which keeps file writes off a measurement's
// path. Each event is passed to OnEvent as it happens, for live charts.
type QLog struct {
	// Dir, when not empty, receives one .sqlog file per connection.
	Dir string
	// MaxBytes bounds each trace kept in memory (DefaultQLogMaxBytes when 0): a trace that
	// outgrows it keeps its first whole events and QLogTrace.Truncated says so. Dir's files are
	// complete.
	MaxBytes int
	// MaxTraces, when more than 0, bounds how many traces are kept: the oldest are forgotten
	// (a long-lived server endpoint's).
	MaxTraces int
	// OnEvent, when set, sees every event (qlog.MetricsUpdated, qlog.PacketSent, qlog.PacketLost, …).
	// It is called on quic-go's goroutines and must not block.
	OnEvent func(t *QLogTrace, ev qlogwriter.Event)

	mu     sync.Mutex
	traces []*QLogTrace
}

// DefaultQLogMaxBytes is QLog.MaxBytes's default: a connection that moves 2 MB logs about 1 MB.
const DefaultQLogMaxBytes = 32 << 20

// QLogTrace is one connection's qlog.
type QLogTrace struct {
	IsClient bool
	ODCID    quic.ConnectionID
	// Label is set by the caller (e.g. the transport name) to tell traces apart.
	Label string

	mu        sync.Mutex
	buf       bytes.Buffer
	max       int
	truncated bool
	closed    bool
	seq       *qlogwriter.FileSeq
	q         *QLog
}

// Tracer is a quic.Config.Tracer.
func (q *QLog) Tracer(_ context.Context, isClient bool, odcid quic.ConnectionID) qlogwriter.Trace {
	t := &QLogTrace{IsClient: isClient, ODCID: odcid, q: q, max: q.MaxBytes}
	if t.max <= 0 {
		t.max = DefaultQLogMaxBytes
	}
	var w io.WriteCloser = (*traceBuffer)(t)
	if q.Dir != "" {
		if f, err := os.Create(filepath.Join(q.Dir, t.FileName())); err == nil {
			bw := bufio.NewWriterSize(f, 64<<10)
			w = &teeCloser{w: io.MultiWriter(w, bw), closers: []io.Closer{flushCloser{bw}, f}}
		}
	}
	t.seq = qlogwriter.NewConnectionFileSeq(w, isClient, odcid)
	go t.seq.Run()
	q.mu.Lock()
	q.traces = append(q.traces, t)
	if q.MaxTraces > 0 && len(q.traces) > q.MaxTraces {
		q.traces = slices.Delete(q.traces, 0, len(q.traces)-q.MaxTraces)
	}
	q.mu.Unlock()
	return t
}

// FileName is the trace's file name: <odcid>_<client|server>.sqlog.
func (t *QLogTrace) FileName() string {
	side := "server"
	if t.IsClient {
		side = "client"
	}
	return fmt.Sprintf("%s_%s.sqlog", t.ODCID, side)
}

// WriteDir writes every trace kept in memory to dir (made if need be), one FileName each: whole
// for the connections that have closed, the events so far for the others.
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
	r := t.seq.AddProducer()
	if r == nil {
		return nil
	}
	return &recorder{Recorder: r, t: t}
}

// Bytes returns the JSON-SEQ qlog written so far (whole once the connection has closed, unless
// Truncated).
func (t *QLogTrace) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.buf.Bytes())
}

// Truncated says the trace outgrew QLog.MaxBytes: Bytes holds its first events only.
func (t *QLogTrace) Truncated() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.truncated
}

// Closed says the connection's trace has ended: Bytes is whole.
func (t *QLogTrace) Closed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

type recorder struct {
	qlogwriter.Recorder
	t *QLogTrace
}

func (r *recorder) RecordEvent(ev qlogwriter.Event) {
	r.Recorder.RecordEvent(ev)
	if f := r.t.q.OnEvent; f != nil {
		f(r.t, ev)
	}
}

// traceBuffer is the in-memory copy of a trace.
type traceBuffer QLogTrace

func (b *traceBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return len(p), nil
	}
	if b.buf.Len()+len(p) > b.max {
		// Keep whole records only: cut back to the start of the one being written (unless
		// this write starts the next one).
		if i := bytes.LastIndexByte(b.buf.Bytes(), qlogwriter.RecordSeparator); i >= 0 && (len(p) == 0 || p[0] != qlogwriter.RecordSeparator) {
			b.buf.Truncate(i)
		}
		b.truncated = true
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *traceBuffer) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// flushCloser flushes a buffered writer on Close.
type flushCloser struct{ w *bufio.Writer }

func (f flushCloser) Close() error { return f.w.Flush() }

type teeCloser struct {
	w       io.Writer
	closers []io.Closer
}

func (t *teeCloser) Write(p []byte) (int, error) { return t.w.Write(p) }
func (t *teeCloser) Close() error {
	var err error
	for _, c := range t.closers {
		if e := c.Close(); e != nil && err == nil {
			err = e
		}
	}
	return err
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
