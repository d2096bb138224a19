package server

import (
	"bytes"
	"net/http"
)

// instructorHandler serves /instructor, the page an instructor creates a workshop room on
// (view.templ's instructorPage; web/static/instructor.js posts to /api/rooms). Without an
// instructor token it still answers, saying rooms are off.
func (s *Server) instructorHandler(info pageInfo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := instructorPage(info.assets(), info.Static.url("instructor.js"), s.cfg.InstructorToken != "").Render(r.Context(), &buf); err != nil {
			http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.Write(buf.Bytes())
	})
}
