package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// probeJSON runs `wireplay probe ... --json` and returns its exit code, message lines and summary.
func probeJSON(t *testing.T, args ...string) (int, []map[string]any, map[string]any, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"probe", "--json"}, args...), &out, &errOut)
	var msgs []map[string]any
	var sum map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if m["type"] == "summary" {
			sum = m
		} else {
			msgs = append(msgs, m)
		}
	}
	return code, msgs, sum, errOut.String()
}

// upBeforeFirstDown reads a pcapng back with tshark and counts the packets sent to server
// before the first packet from it.
func upBeforeFirstDown(t *testing.T, pcap, server string) int {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed: the capture cannot be read back")
	}
	out, err := exec.Command(tshark, "-r", pcap, "-T", "fields", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	type pkt struct {
		at       float64
		src, dst string
	}
	var pkts []pkt
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("tshark line %q", line)
		}
		at, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, pkt{at, f[1], f[2]})
	}
	slices.SortStableFunc(pkts, func(a, b pkt) int { return cmp.Compare(a.at, b.at) })
	up := 0
	for _, p := range pkts {
		if p.src == server {
			return up
		}
		if p.dst == server {
			up++
		}
	}
	t.Fatalf("no packet from %s among %d", server, len(pkts))
	return 0
}

// TestProbeIntervalPaces: on a link with 100 ms one-way delay, --interval 5ms sends the next
// messages before the first echo comes back (read from the probe's pcapng with tshark, and from
// its own send times), and --window bounds how many are out at once.
func TestProbeIntervalPaces(t *testing.T) {
	for _, tt := range []struct {
		window   int
		min, max int
	}{{256, 2, 10}, {3, 2, 3}} {
		t.Run("window "+strconv.Itoa(tt.window), func(t *testing.T) {
			pcap := filepath.Join(t.TempDir(), "run.pcapng")
			code, msgs, sum, stderr := probeJSON(t, "--link", "--delay", "100ms", "--transport", "udp", "--count", "10",
				"--interval", "5ms", "--window", strconv.Itoa(tt.window), "--pcap", pcap)
			if code != 0 || sum == nil || len(msgs) != 10 {
				t.Fatalf("exit %d, %d messages, summary %v; stderr %s", code, len(msgs), sum, stderr)
			}
			host, _, _ := net.SplitHostPort(sum["addr"].(string))
			if n := upBeforeFirstDown(t, pcap, host); n < tt.min || n > tt.max {
				t.Errorf("%d datagrams sent before the first echo left the server, want %d..%d", n, tt.min, tt.max)
			}
			// The probe's own clock: messages written before message 1's echo was read.
			var echo1 float64
			for _, m := range msgs {
				if m["msg"].(float64) == 1 {
					echo1 = m["sent_us"].(float64) + m["rtt_us"].(float64)
				}
			}
			before := 0
			for _, m := range msgs {
				if m["sent_us"].(float64) < echo1 {
					before++
				}
			}
			if before < tt.min || before > tt.max {
				t.Errorf("%d messages sent before the first echo arrived, want %d..%d", before, tt.min, tt.max)
			}
			if sum["interval_us"].(float64) != 5000 || sum["window"].(float64) != float64(tt.window) {
				t.Errorf("summary pacing: interval %v, window %v", sum["interval_us"], sum["window"])
			}
		})
	}
	// Without --interval each message waits for the previous one's echo: one out at a time.
	pcap := filepath.Join(t.TempDir(), "run.pcapng")
	code, _, sum, stderr := probeJSON(t, "--link", "--delay", "20ms", "--transport", "udp", "--count", "3", "--pcap", pcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	host, _, _ := net.SplitHostPort(sum["addr"].(string))
	if n := upBeforeFirstDown(t, pcap, host); n != 1 {
		t.Errorf("no interval: %d datagrams before the first echo, want 1", n)
	}
}

// TestProbeTimeout: a probe still waiting at --timeout (its link black for longer) prints the
// summary so far, says it timed out, and exits 1.
func TestProbeTimeout(t *testing.T) {
	args := []string{"--link", "--blackhole", "10s", "--transport", "udp", "--count", "4", "--interval", "1ms",
		"--loss-timeout", "20s", "--timeout", "300ms"}
	code, msgs, sum, stderr := probeJSON(t, args...)
	if code != 1 || sum == nil || sum["timed_out"] != true || sum["sent"].(float64) != 4 || sum["received"].(float64) != 0 || len(msgs) != 0 {
		t.Fatalf("exit %d, summary %v, %d messages; stderr %q", code, sum, len(msgs), stderr)
	}
	link := sum["link"].(map[string]any)["up_counts"].(map[string]any)
	if link["dropped"].(map[string]any)["blackhole"].(float64) != 4 {
		t.Errorf("link up counts %v, want 4 datagrams dropped by the blackhole", link)
	}
	if want := "wireplay probe: timed out after 300ms (--timeout): 4 of 4 messages sent, 0 echoed, 0 lost\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	var out, errOut bytes.Buffer
	if code := run(append([]string{"probe"}, args...), &out, &errOut); code != 1 ||
		!strings.Contains(out.String(), "4 sent, 0 received") || !strings.Contains(out.String(), "timed out: the figures are those so far; 4 of 4 sent were still awaiting their echo") {
		t.Errorf("text: exit %d, stdout:\n%s", code, out.String())
	}
	// TCP cannot even connect through the blackhole: the summary says so.
	out.Reset()
	if code := run([]string{"probe", "--link", "--blackhole", "10s", "--transport", "tcp", "--timeout", "300ms"}, &out, &errOut); code != 1 ||
		!strings.Contains(out.String(), "0 sent, 0 received") || !strings.Contains(out.String(), "timed out before the first message was sent") {
		t.Errorf("tcp: exit %d, stdout:\n%s", code, out.String())
	}
}
