package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	runtimemetrics "runtime/metrics"
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// Metric names served on /metrics (Prometheus text format), with their help text. Each server has
// a set of its own, so servers in one process (tests) do not share counts.
var metricHelp = map[string]string{
	"wireplay_connections":                     "Connections open now, by endpoint (tcp: the TCP echo; quic: the QUIC echo, handshakes included; ws: /ws/echo; relay: /relay pages; room: workshop room sockets). UDP has none: see wireplay_udp_datagrams_total.",
	"wireplay_udp_datagrams_total":             "Datagrams the UDP echo answered (echoed) or did not (dropped: rate buckets, blocked source ports).",
	"wireplay_relay_sessions":                  "Relay sessions (open pages) now.",
	"wireplay_relay_sessions_total":            "Relay sessions opened since start.",
	"wireplay_link_pages":                      "Relay sessions with an emulated link now (pages in link mode, and room messages under way).",
	"wireplay_lessons_running":                 "Lessons (scenario runs) running now.",
	"wireplay_lessons_queued":                  "Lessons waiting for a slot now (one runs per session and per client address at a time).",
	"wireplay_relay_bytes_total":               "Bytes of WebSocket messages on /relay: in (requests from pages) and out (events to pages).",
	"wireplay_refusals_total":                  "Connections refused, by endpoint and reason (per-ip, total: a cap; handshakes: QUIC's cap on unvalidated handshakes; handshake: a foreign Origin or a malformed upgrade on /relay; shutdown: draining).",
	"wireplay_relay_queue_drops_total":         "Pages disconnected (1008) because their event queue overflowed (a browser too slow to read).",
	"wireplay_relay_queue_dropped_bytes_total": "Bytes of events dropped with the pages counted in wireplay_relay_queue_drops_total.",
	"wireplay_relay_idle_closed_total":         "Pages closed (1008) after sending nothing, no request and no pong, for the relay idle timeout.",
	"wireplay_relay_pings_total":               "Pings sent to pages that sent no request for a ping interval.",
	"wireplay_relay_invalid_utf8_total":        "Pages closed (1007) for a text message that is not valid UTF-8.",
	"wireplay_relay_pages_cut_total":           "Pages whose connection was cut because they did not answer a close frame (1001 at shutdown, 1008 when idle) within 1 s.",
	"wireplay_http_draining":                   "1 once the server is draining (SIGTERM): /readyz answers 503.",
	"wireplay_room_members_dropped_total":      "Workshop room members closed (1008) because their queue was full (they did not read), by socket: room or chat.",

	// The process's and Go runtime's, of those VictoriaMetrics/metrics writes.
	"process_resident_memory_bytes": "Resident set size (RSS) of the process in bytes.",
	"process_virtual_memory_bytes":  "Virtual memory size of the process in bytes.",
	"process_cpu_seconds_total":     "User and system CPU time the process has used, in seconds.",
	"process_start_time_seconds":    "When the process started, in seconds since the Unix epoch.",
	"process_num_threads":           "OS threads of the process.",
	"process_open_fds":              "Open file descriptors.",
	"process_max_fds":               "The process's limit on open file descriptors.",
	"go_goroutines":                 "Goroutines that exist now.",
	"go_memstats_heap_inuse_bytes":  "Bytes in in-use heap spans.",
	"go_memstats_sys_bytes":         "Bytes of memory the Go runtime obtained from the OS.",
	"go_memstats_stack_inuse_bytes": "Bytes of goroutine stacks in use.",
	// Written by writeMetrics from runtime/metrics.
	"go_gc_heap_live_bytes": "Bytes of heap objects the last completed GC cycle found live (runtime/metrics /gc/heap/live:bytes): the heap the server needs, without the garbage and headroom RSS also holds.",
	"go_gc_cycles_total":    "GC cycles completed (runtime/metrics /gc/cycles/total:gc-cycles): go_gc_heap_live_bytes is as of the last one.",
}

func init() {
	metrics.ExposeMetadata(true) // TYPE lines; the HELP lines get metricHelp's text in writeMetrics
}

// serverMetrics are the server's counters; gauges read the server's state when scraped.
type serverMetrics struct {
	set *metrics.Set

	relayBytesIn, relayBytesOut       *metrics.Counter
	relaySessionsTotal                *metrics.Counter
	queueDrops, queueDroppedBytes     *metrics.Counter
	relayIdleClosed, relayInvalidUTF8 *metrics.Counter
	relayPings, relayCut              *metrics.Counter
}

func newServerMetrics() *serverMetrics {
	set := metrics.NewSet()
	m := &serverMetrics{set: set,
		relayBytesIn:       set.NewCounter(`wireplay_relay_bytes_total{direction="in"}`),
		relayBytesOut:      set.NewCounter(`wireplay_relay_bytes_total{direction="out"}`),
		relaySessionsTotal: set.NewCounter("wireplay_relay_sessions_total"),
		queueDrops:         set.NewCounter("wireplay_relay_queue_drops_total"),
		queueDroppedBytes:  set.NewCounter("wireplay_relay_queue_dropped_bytes_total"),
		relayIdleClosed:    set.NewCounter("wireplay_relay_idle_closed_total"),
		relayInvalidUTF8:   set.NewCounter("wireplay_relay_invalid_utf8_total"),
		relayPings:         set.NewCounter("wireplay_relay_pings_total"),
		relayCut:           set.NewCounter("wireplay_relay_pages_cut_total"),
	}
	for _, r := range []struct{ endpoint, reason string }{
		{"relay", "per-ip"}, {"relay", "total"}, {"relay", "handshake"}, {"relay", "shutdown"},
		{"tcp", "per-ip"}, {"tcp", "total"}, {"ws", "per-ip"}, {"ws", "total"},
		{"quic", "per-ip"}, {"quic", "total"}, {"quic", "handshakes"},
	} {
		set.GetOrCreateCounter(refusalName(r.endpoint, r.reason)) // listed at 0 before the first
	}
	return m
}

func refusalName(endpoint, reason string) string {
	return fmt.Sprintf("wireplay_refusals_total{endpoint=%q,reason=%q}", endpoint, reason)
}

// refused counts a connection refused by endpoint for reason (a fixed word, never the client's).
func (m *serverMetrics) refused(endpoint, reason string) {
	m.set.GetOrCreateCounter(refusalName(endpoint, reason)).Inc()
}

// watch adds the gauges that read s's state when scraped.
func (m *serverMetrics) watch(s *Server) {
	set := m.set
	gauge := func(name string, f func() int) { set.NewGauge(name, func() float64 { return float64(f()) }) }
	gauge(`wireplay_connections{endpoint="tcp"}`, s.tcp.Open)
	gauge(`wireplay_connections{endpoint="ws"}`, s.ws.Open)
	gauge(`wireplay_connections{endpoint="quic"}`, s.quic.Open)
	gauge(`wireplay_connections{endpoint="relay"}`, s.relay.sessionCount)
	gauge(`wireplay_connections{endpoint="room"}`, s.rooms.Open)
	gauge("wireplay_relay_sessions", s.relay.sessionCount)
	gauge("wireplay_link_pages", s.relay.linkCount)
	gauge("wireplay_lessons_running", func() int { running, _ := s.relay.lessons.counts(); return running })
	gauge("wireplay_lessons_queued", func() int { _, waiting := s.relay.lessons.counts(); return waiting })
	gauge("wireplay_http_draining", func() int {
		if s.draining.Load() {
			return 1
		}
		return 0
	})
	set.RegisterMetricsWriter(func(w io.Writer) {
		fmt.Fprintf(w, "# HELP wireplay_udp_datagrams_total\n# TYPE wireplay_udp_datagrams_total counter\n")
		fmt.Fprintf(w, "wireplay_udp_datagrams_total{result=\"echoed\"} %d\n", s.udp.Echoed())
		fmt.Fprintf(w, "wireplay_udp_datagrams_total{result=\"dropped\"} %d\n", s.udp.Dropped())
		if s.rooms != nil && s.chat != nil {
			fmt.Fprintf(w, "# HELP wireplay_room_members_dropped_total\n# TYPE wireplay_room_members_dropped_total counter\n")
			fmt.Fprintf(w, "wireplay_room_members_dropped_total{socket=\"room\"} %d\n", s.rooms.Dropped())
			fmt.Fprintf(w, "wireplay_room_members_dropped_total{socket=\"chat\"} %d\n", s.chat.Dropped())
		}
	})
}

// writeMetrics writes the set and a few of the process's and runtime's metrics
// (process_resident_memory_bytes among them) in Prometheus text format: the families metricHelp
// lists, each HELP line with its text. (The library's other process and go families have no help
// text, and some break Prometheus's naming rules, which `promtool check metrics` flags.)
func (m *serverMetrics) writeMetrics(w *bytes.Buffer) {
	var raw bytes.Buffer
	m.set.WritePrometheus(&raw)
	metrics.WriteProcessMetrics(&raw)
	metrics.WriteFDMetrics(&raw)
	rm := []runtimemetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	runtimemetrics.Read(rm)
	if rm[0].Value.Kind() == runtimemetrics.KindUint64 && rm[1].Value.Kind() == runtimemetrics.KindUint64 {
		metrics.WriteGaugeUint64(&raw, "go_gc_heap_live_bytes", rm[0].Value.Uint64())
		metrics.WriteCounterUint64(&raw, "go_gc_cycles_total", rm[1].Value.Uint64())
	}
	sc := bufio.NewScanner(&raw)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var name string
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			if f := strings.Fields(rest); len(f) >= 2 {
				name = f[1]
			}
		} else if i := strings.IndexAny(line, "{ "); i > 0 {
			name = line[:i]
		}
		help, ok := metricHelp[name]
		if !ok {
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			line = "# HELP " + name + " " + help
		}
		w.WriteString(line)
		w.WriteByte('\n')
	}
}

// ServeHTTP serves GET /metrics.
func (m *serverMetrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	var b bytes.Buffer
	m.writeMetrics(&b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}
