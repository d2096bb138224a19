package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/server"
)

// TestRoomCreate runs `wireplay room create` against a real server.
func TestRoomCreate(t *testing.T) {
	s := server.New(server.Config{InstructorToken: "tok-1", HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0",
		QUICAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}()
	base := "http://" + s.Addrs().HTTP
	var out, errOut bytes.Buffer
	if code := run([]string{"room", "create", "--server", base, "--token", "tok-1"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	m := regexp.MustCompile(`^room ([2-9A-Z]{6})\n  participants  (\S+)\n  instructor    (\S+)\n$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("output %q", out.String())
	}
	if m[2] != base+"/r/"+m[1] || !strings.HasPrefix(m[3], m[2]+"#instructor=") {
		t.Errorf("links %q, %q for room %s", m[2], m[3], m[1])
	}
	resp, err := http.Get(m[2])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d", m[2], resp.StatusCode)
	}

	t.Setenv("WIREPLAY_INSTRUCTOR_TOKEN", "wrong")
	out.Reset()
	errOut.Reset()
	if code := run([]string{"room", "create", "--server", base}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "401") {
		t.Errorf("wrong token: exit %d, stderr %q", code, errOut.String())
	}
	for _, args := range [][]string{{"room"}, {"room", "delete"}, {"room", "create", "--bogus"}} {
		if code := run(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
