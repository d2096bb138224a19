package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"

	"github.com/wireplay/wireplay/protocol"
)

// session returns the live session with this id, if any.
func (r *relay) session(id string) *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

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

// servePcapng serves GET /relay/pcapng?session=ID: the packets of the session's emulated link.
// The session id, which only its browser has, is the capability.
func (r *relay) servePcapng(w http.ResponseWriter, req *http.Request) {
	s := r.session(req.URL.Query().Get("session"))
	if s == nil {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
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
	download(w, buf.Bytes(), "application/octet-stream", "wireplay-"+s.id+".pcapng")
}

// serveQLog serves GET /relay/qlog?session=ID&transport=quic-stream|quic-dgram: the JSON-SEQ
// qlog of that transport's latest connection over the session's emulated link.
func (r *relay) serveQLog(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	s := r.session(q.Get("session"))
	if s == nil {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	t := protocol.Transport(q.Get("transport"))
	if t != protocol.QUICStream && t != protocol.QUICDgram {
		http.Error(w, fmt.Sprintf("transport must be %q or %q", protocol.QUICStream, protocol.QUICDgram), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	ql := s.qlogs[t]
	s.mu.Unlock()
	var b []byte
	if ql != nil {
		if traces := ql.Traces(); len(traces) > 0 {
			b = traces[len(traces)-1].Bytes()
		}
	}
	if len(b) == 0 {
		http.Error(w, "no qlog: no "+string(t)+" connection over the emulated link yet", http.StatusNotFound)
		return
	}
	download(w, b, "application/qlog+json-seq", "wireplay-"+s.id+"-"+string(t)+".sqlog")
}
