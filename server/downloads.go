package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/quic-go/quic-go/qlogwriter"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// session returns the live session with this id, if any.
func (r *relay) session(id string) *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// downloadSession is the session whose capture a download asks for (the caller ends the
// download with s.downloads.Add(-1)): the X-Wireplay-Session header
// (protocol.SessionHeader), which only the session's page knows and which access logs do not keep.
// The session in the query string, as in older versions, is refused with 400 and why: a URL lands
// in logs, history and Referer headers, and the id is the session's only secret. It writes the
// answer (400, 404, or 429 past maxDownloads) and returns nil when there is no session to serve.
func (r *relay) downloadSession(w http.ResponseWriter, req *http.Request) *session {
	if req.URL.Query().Has("session") {
		http.Error(w, "the session goes in the "+protocol.SessionHeader+" header, not in the query string (which ends up in logs)", http.StatusBadRequest)
		return nil
	}
	id := req.Header.Get(protocol.SessionHeader)
	if id == "" {
		http.Error(w, "no session: send its id in the "+protocol.SessionHeader+" header", http.StatusBadRequest)
		return nil
	}
	s := r.session(id)
	if s == nil {
		http.Error(w, "no such session", http.StatusNotFound)
		return nil
	}
	if s.downloads.Add(1) > maxDownloads {
		s.downloads.Add(-1)
		http.Error(w, fmt.Sprintf("this session already has %d downloads in progress; try again when one has finished", maxDownloads), http.StatusTooManyRequests)
		return nil
	}
	return s
}

// maxDownloads is how many capture downloads one session may have in progress at once: each is
// built whole in memory (up to Config.CaptureBytes or QLogBytes), so the number is bounded.
const maxDownloads = 2

// download sends b as an attachment.
func download(w http.ResponseWriter, b []byte, contentType, filename string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", filename))
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(b)
}

// servePcapng serves GET /relay/pcapng (the session in the X-Wireplay-Session header): the
// packets of the session's emulated link. The session id, which only its browser has, is the
// capability.
func (r *relay) servePcapng(w http.ResponseWriter, req *http.Request) {
	s := r.downloadSession(w, req)
	if s == nil {
		return
	}
	defer s.downloads.Add(-1)
	s.mu.Lock()
	lk := s.lk
	s.mu.Unlock()
	if lk == nil {
		http.Error(w, "no emulated link: the session is on the kernel's loopback", http.StatusConflict)
		return
	}
	var buf bytes.Buffer
	if err := lk.l.WritePcapng(&buf); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if n := lk.l.LogEvicted(); n > 0 {
		w.Header().Set(protocol.TruncatedHeader, fmt.Sprintf("the capture holds the latest packets only: %d earlier ones went past the session's cap of %d bytes", n, r.cfg.CaptureBytes))
	}
	download(w, buf.Bytes(), "application/octet-stream", "wireplay-"+s.id+".pcapng")
}

// serveQLog serves GET /relay/qlog?transport=quic-stream|quic-dgram[&side=client|server] (the
// session in the X-Wireplay-Session header): the qlog of that transport's latest connection over the session's emulated link. Without side
// it is both ends' traces in one qlog JSON file (.qlog, which qvis opens as two traces); with
// side, that end's JSON-SEQ trace (.sqlog) as quic-go wrote it.
func (r *relay) serveQLog(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	s := r.downloadSession(w, req)
	if s == nil {
		return
	}
	defer s.downloads.Add(-1)
	t := protocol.Transport(q.Get("transport"))
	if t != protocol.QUICStream && t != protocol.QUICDgram {
		http.Error(w, fmt.Sprintf("transport must be %q or %q", protocol.QUICStream, protocol.QUICDgram), http.StatusBadRequest)
		return
	}
	side := q.Get("side")
	if side != "" && side != "client" && side != "server" {
		http.Error(w, `side must be "client" or "server" (or absent, for both)`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	ql := s.qlogs[t]
	var srv *transports.QLog
	if s.lk != nil {
		srv = s.lk.serverQLog
	}
	s.mu.Unlock()
	var client, server *transports.QLogTrace
	if ql != nil {
		if traces := ql.Traces(); len(traces) > 0 {
			client = traces[len(traces)-1]
		}
	}
	if client != nil && srv != nil {
		traces := srv.Traces()
		for i := len(traces) - 1; i >= 0; i-- {
			if traces[i].ODCID == client.ODCID {
				server = traces[i]
				break
			}
		}
	}
	name := "wireplay-" + s.id + "-" + string(t)
	switch side {
	case "client", "server":
		tr := client
		if side == "server" {
			tr = server
		}
		var b []byte
		if tr != nil {
			b = tr.Bytes()
		}
		if len(b) == 0 {
			http.Error(w, "no qlog: no "+side+" trace of a "+string(t)+" connection over the emulated link yet", http.StatusNotFound)
			return
		}
		markTruncated(w, tr)
		download(w, b, "application/qlog+json-seq", name+"-"+side+".sqlog")
		return
	}
	if client == nil {
		http.Error(w, "no qlog: no "+string(t)+" connection over the emulated link yet", http.StatusNotFound)
		return
	}
	seqs := [][]byte{client.Bytes()}
	if server != nil {
		seqs = append(seqs, server.Bytes())
	}
	b, err := qlogFile(name, seqs...)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	markTruncated(w, client, server)
	download(w, b, "application/qlog+json", name+".qlog")
}

// markTruncated sets protocol.TruncatedHeader when any of the traces outgrew its cap.
func markTruncated(w http.ResponseWriter, traces ...*transports.QLogTrace) {
	for _, t := range traces {
		if t != nil && t.Truncated() {
			w.Header().Set(protocol.TruncatedHeader, "a trace holds its first events only: it went past the session's qlog cap (its last record, wireplay:trace_truncated, says how many were left out)")
			return
		}
	}
}

// qlogFile joins JSON-SEQ traces (each its header record, then one record per event) into one
// qlog JSON file with a trace each: qlog_version and qlog_format first, where qvis looks for
// them, then the traces, each its header's trace object with the events added.
func qlogFile(title string, seqs ...[]byte) ([]byte, error) {
	var traces []json.RawMessage
	for _, seq := range seqs {
		var header struct {
			Trace map[string]json.RawMessage `json:"trace"`
		}
		var events []json.RawMessage
		for i, rec := range bytes.Split(seq, []byte{qlogwriter.RecordSeparator}) {
			if rec = bytes.TrimSpace(rec); len(rec) == 0 {
				continue
			}
			if header.Trace == nil {
				if err := json.Unmarshal(rec, &header); err != nil || header.Trace == nil {
					return nil, fmt.Errorf("read qlog header (record %d): %v", i, err)
				}
				continue
			}
			if !json.Valid(rec) { // a trace still being written ends in a partial record
				continue
			}
			events = append(events, rec)
		}
		if header.Trace == nil {
			continue
		}
		ev, err := json.Marshal(events)
		if err != nil {
			return nil, fmt.Errorf("write qlog: %w", err)
		}
		header.Trace["events"] = ev
		tr, err := json.Marshal(header.Trace)
		if err != nil {
			return nil, fmt.Errorf("write qlog: %w", err)
		}
		traces = append(traces, tr)
	}
	return json.Marshal(struct {
		Version string            `json:"qlog_version"`
		Format  string            `json:"qlog_format"`
		Title   string            `json:"title"`
		Traces  []json.RawMessage `json:"traces"`
	}{"0.3", "JSON", title, traces})
}
