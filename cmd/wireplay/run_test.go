package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wireplay/wireplay/protocol"
)

func TestScenariosList(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"scenarios"}, &out, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 8 {
		t.Fatalf("%d scenarios listed:\n%s", len(lines), out.String())
	}
	for i, want := range []string{"handshake", "boundaries", "loss-order", "hol", "migration", "throughput", "dead-peer", "backlog"} {
		if !strings.HasPrefix(lines[i], want+" ") {
			t.Errorf("line %d %q, want scenario %s", i, lines[i], want)
		}
	}
}

// TestRunJSON runs a real scenario twice from the command line and checks the JSON it prints.
func TestRunJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	dir := t.TempDir()
	html := filepath.Join(dir, "report.html")
	code := run([]string{"run", "boundaries", "--seed", "3", "--repeat", "2", "--format", "json", "--out", dir, "--html", html}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep protocol.ScenarioReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not a JSON report: %v\n%s", err, out.String())
	}
	if rep.Scenario != "boundaries" || rep.Seed != 3 || rep.Repeat != 2 || len(rep.Runs) != 2 || rep.Preset != "lab-25ms" {
		t.Errorf("report header %+v", rep)
	}
	var udpReads *protocol.Stat
	for i, s := range rep.Stats {
		if s.Transport == "udp" && s.Name == "reads" {
			udpReads = &rep.Stats[i]
		}
	}
	if udpReads == nil || udpReads.N != 2 || udpReads.Mean != 3 || udpReads.CI95 != 0 {
		t.Errorf("udp reads stat %+v, want 3 reads in both runs", udpReads)
	}
	if rep.Conclusion == "" {
		t.Error("no conclusion")
	}
	pcaps, _ := filepath.Glob(filepath.Join(dir, "boundaries-run*.pcapng"))
	if len(pcaps) != 2 {
		t.Errorf("pcapng files %v", pcaps)
	}
	if b, err := os.ReadFile(html); err != nil || !bytes.Contains(b, []byte("<table")) {
		t.Errorf("html report: %v", err)
	}
}

func TestRunCSVAndErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"run", "boundaries", "--format", "csv", "--delay", "5ms"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil || len(rows) < 5 || strings.Join(rows[0], ",") != "scenario,transport,metric,unit,n,mean,ci95,min,max" {
		t.Errorf("csv: %v %v", err, rows)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run"}, 2, "name a scenario"},
		{[]string{"run", "teleport"}, 2, `unknown scenario "teleport"`},
		{[]string{"run", "boundaries", "--format", "yaml"}, 2, `--format "yaml": want table, json or csv`},
		{[]string{"run", "boundaries", "--preset", "moon"}, 2, `unknown preset "moon"`},
		// A link flag changes its field of the preset in both directions and keeps the others.
		{[]string{"run", "boundaries", "--preset", "wifi", "--loss", "3"}, 0, "wifi (edited) (up: 20ms delay, 3% loss; down: 20ms delay, 3% loss)"},
		{[]string{"run", "boundaries", "--jitter", "30ms"}, 2, "wireplay run: --jitter 30ms: must be at most the delay (25ms)"},
		{[]string{"run", "boundaries", "--param", "nope=1"}, 2, "wireplay run: --param nope=1: no such parameter"},
		{[]string{"run", "boundaries", "--loss", "300"}, 2, "wireplay run: --loss 300: must be 0..100"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if code := run(tt.args, &out, &out); code != tt.code || !strings.Contains(out.String(), tt.want) {
				t.Errorf("exit %d, want %d; output %q lacks %q", code, tt.code, out.String(), tt.want)
			}
		})
	}
}

// TestRunScenarioHelp: `wireplay run NAME --help` lists the scenario's parameters with their
// kind, unit, range and default; a bad value is refused naming the parameter and the value.
func TestRunScenarioHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"run", "handshake", "--help"}, &out, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"Parameters of handshake", "requests", "int, requests", "1..100", "zero_rtt", "bool", "--reorder"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("run handshake --help lacks %q:\n%s", want, out.String())
		}
	}
	for arg, want := range map[string]string{
		"requests=abc": `wireplay run: --param requests "abc" is not a number`,
		"requests=2.5": `wireplay run: --param requests "2.5" is not an integer`,
		"requests=500": "wireplay run: --param requests 500 is outside 1..100",
	} {
		out.Reset()
		if code := run([]string{"run", "handshake", "--param", arg}, &out, &out); code != 2 || strings.TrimSpace(out.String()) != want {
			t.Errorf("--param %s: exit %d, %q, want %q", arg, code, out.String(), want)
		}
	}
}
