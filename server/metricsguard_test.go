package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestMetricsGuard: a public server answers /metrics to loopback clients only, unless
// PublicMetrics; a loopback server answers everyone it lets in.
func TestMetricsGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("metrics")) })
	for _, tt := range []struct {
		public, publicMetrics bool
		remote                string
		want                  int
	}{
		{false, false, "192.0.2.7:5000", http.StatusOK},
		{true, false, "127.0.0.1:5000", http.StatusOK},
		{true, false, "[::1]:5000", http.StatusOK},
		{true, false, "192.0.2.7:5000", http.StatusForbidden},
		{true, false, "[2001:db8::7]:5000", http.StatusForbidden},
		{true, true, "192.0.2.7:5000", http.StatusOK},
	} {
		s := &Server{cfg: Config{Public: tt.public, PublicMetrics: tt.publicMetrics}}
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.RemoteAddr = tt.remote
		rec := httptest.NewRecorder()
		s.metricsGuard(ok).ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("public %v, public metrics %v, from %s: %d %q, want %d", tt.public, tt.publicMetrics, tt.remote, rec.Code, rec.Body, tt.want)
		}
	}
}
