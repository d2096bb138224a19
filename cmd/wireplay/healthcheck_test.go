package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck: exit 0 for a server answering 200, 1 for one answering otherwise or not at
// all, 2 for a bad URL; --insecure accepts a certificate the check cannot verify.
func TestHealthcheck(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	plain := httptest.NewServer(ok)
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(ok)
	defer tlsSrv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{plain.URL + "/healthz"}, 0, "ok"},
		{[]string{plain.URL + "/readyz"}, 1, "503"},
		{[]string{closed}, 1, "refused"},
		{[]string{tlsSrv.URL + "/healthz"}, 1, "certificate"},
		{[]string{"--insecure", tlsSrv.URL + "/healthz"}, 0, "ok"},
		{[]string{"ftp://x/healthz"}, 2, "want http"},
	} {
		var out bytes.Buffer
		if code := run(append([]string{"healthcheck"}, tt.args...), &out, &out); code != tt.code || !strings.Contains(out.String(), tt.want) {
			t.Errorf("healthcheck %v: exit %d, want %d; output %q lacks %q", tt.args, code, tt.code, out.String(), tt.want)
		}
	}
}
