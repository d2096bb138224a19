package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wireplay/wireplay/servermodels"
)

// TestMain lets the test binary act as the wireplay command, so a test can run it as a process.
func TestMain(m *testing.M) {
	servermodels.RunChild() // the server-models lesson's process-per-connection children are this binary
	if os.Getenv("WIREPLAY_BE_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"help"}, 0, "wireplay probe"},
		{[]string{"serve", "--help"}, 0, "-quic-addr"},
		{[]string{"--help"}, 0, "wireplay probe"},
		{[]string{"probe", "-h"}, 0, "-transport"},
		{[]string{"help", "probe"}, 0, "-count"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"serve", "--tcp-addr"}, 2, "flag needs an argument"},
		{[]string{"probe", "--transport", "sctp", "--addr", "127.0.0.1:1"}, 2, `--transport "sctp"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if code := run(tt.args, &out, &out); code != tt.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.code, out.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out.String())
			}
		})
	}
}

// serveProcess is `wireplay serve` running as a process (this test binary, as the command).
type serveProcess struct {
	cmd    *exec.Cmd
	addrs  map[string]string // page, tcp, udp, quic, http-lesson
	stderr *bytes.Buffer     // read it only after the process exited
}

// startServe runs `wireplay serve` on ephemeral loopback ports with the extra args, and waits for
// it to print its addresses.
func startServe(t *testing.T, args ...string) *serveProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--http-addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0",
		"--udp-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0", "--http-lesson-addr", "127.0.0.1:0", "--chat-tcp-addr", "127.0.0.1:0", "--zmq-addr", "127.0.0.1:0", "--zmq-pub-addr", "127.0.0.1:0"}, args...)...)
	// GORACE: a -race build otherwise sleeps 1 s at exit, which is not the server's time.
	cmd.Env = append(os.Environ(), "WIREPLAY_BE_MAIN=1", "GORACE=atexit_sleep_ms=0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	addrs := map[string]string{}
	re := regexp.MustCompile(`^\s+(page|tcp|udp|quic|http-lesson)\s+(?:http://)?([0-9.]+:[0-9]+)`)
	sc := bufio.NewScanner(stdout)
	for len(addrs) < 5 && sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			addrs[m[1]] = m[2]
		}
	}
	if len(addrs) < 5 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("server printed %v; stderr:\n%s", addrs, stderr.String())
	}
	go io.Copy(io.Discard, stdout) // the "shutting down" line
	return &serveProcess{cmd: cmd, addrs: addrs, stderr: &stderr}
}

// TestServeProbeAndSignal runs `wireplay serve` as a process on ephemeral ports, probes every
// endpoint with `wireplay probe --json`, then sends SIGTERM and expects a drain and exit 0.
func TestServeProbeAndSignal(t *testing.T) {
	sp := startServe(t)
	cmd, addrs, stderr := sp.cmd, sp.addrs, sp.stderr
	for _, p := range []struct{ transport, addr string }{
		{"tcp", addrs["tcp"]}, {"udp", addrs["udp"]}, {"quic-stream", addrs["quic"]},
		{"quic-dgram", addrs["quic"]}, {"ws", addrs["page"]},
	} {
		t.Run(p.transport, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run([]string{"probe", "--transport", p.transport, "--addr", p.addr, "--count", "5", "--size", "100", "--json"}, &out, &errOut); code != 0 {
				t.Fatalf("probe exit %d: %s", code, errOut.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 6 {
				t.Fatalf("%d lines, want 5 messages and a summary:\n%s", len(lines), out.String())
			}
			var sum struct {
				Type           string
				Sent, Received int
				P50            int64  `json:"p50_us"`
				Handshake      int64  `json:"handshake_us"`
				Covers         string `json:"handshake"`
			}
			if err := json.Unmarshal([]byte(lines[5]), &sum); err != nil {
				t.Fatal(err)
			}
			if sum.Type != "summary" || sum.Sent != 5 || sum.Received != 5 || sum.P50 <= 0 {
				t.Errorf("summary %+v", sum)
			}
			// UDP has no handshake; every other transport took one and says what it covers.
			if udp := p.transport == "udp"; udp != (sum.Covers == "none") || udp != (sum.Handshake == 0) || sum.Covers == "" {
				t.Errorf("handshake %d µs (%q) for %s", sum.Handshake, sum.Covers, p.transport)
			}
		})
	}

	// The http lesson's hand-written server, as curl or a browser reach it.
	t.Run("http-lesson", func(t *testing.T) {
		resp, err := http.Get("http://" + addrs["http-lesson"] + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != int64(len(b)) || !strings.Contains(string(b), "<h1>A web server on raw sockets</h1>") {
			t.Errorf("GET /: %d, Content-Length %d, body %.80q", resp.StatusCode, resp.ContentLength, b)
		}
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit within 15 s of SIGTERM")
	}
}
