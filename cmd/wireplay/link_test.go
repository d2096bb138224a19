package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/linkspec"
)

func TestProbeLinkHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"probe", "--help"}, &out, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"-link", "-preset", "-loss", "-delay", "-jitter", "-rate", "-seed", "-pcap", "-qlog", "-reorder", "-duplicate", "-burst", "Gilbert–Elliott", "-queue", "-interval", "-window", "-timeout", "BOTH directions", "wifi"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("probe --help lacks %q", want)
		}
	}
	out.Reset()
	if code := run([]string{"probe", "--loss", "5"}, &out, &out); code != 2 || !strings.Contains(out.String(), "--loss need --link") {
		t.Errorf("--loss without --link: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"probe", "--link", "--preset", "moon"}, &out, &out); code != 2 || !strings.Contains(out.String(), "unknown preset") {
		t.Errorf("--preset moon: exit %d, %q", code, out.String())
	}
}

type counts struct {
	Sent    uint64            `json:"sent"`
	Dropped map[string]uint64 `json:"dropped"`
}

// TestProbeLinkJSON runs `wireplay probe --link` over UDP with 20% loss: datagrams are lost, the
// link reports its drops, every line is JSON, and the capture is pcapng.
func TestProbeLinkJSON(t *testing.T) {
	pcap := filepath.Join(t.TempDir(), "udp.pcapng")
	var out, errOut bytes.Buffer
	args := []string{"probe", "--link", "--transport", "udp", "--loss", "20", "--seed", "1", "--count", "20",
		"--loss-timeout", "200ms", "--json", "--pcap", pcap}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var sum struct {
		Type string `json:"type"`
		Lost int    `json:"lost"`
		Link struct {
			UpCounts   counts `json:"up_counts"`
			DownCounts counts `json:"down_counts"`
		} `json:"link"`
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		if m["type"] == "summary" {
			if err := json.Unmarshal(sc.Bytes(), &sum); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sum.Type != "summary" || sum.Lost == 0 || sum.Link.UpCounts.Dropped["loss"]+sum.Link.DownCounts.Dropped["loss"] == 0 {
		t.Errorf("summary %+v: want datagrams lost and link drops", sum)
	}
	b, err := os.ReadFile(pcap)
	if err != nil || len(b) < 4 || !bytes.Equal(b[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		t.Errorf("pcap: %v, starts % x", err, b[:min(4, len(b))])
	}
}

// TestProbeAndRunLinkFlagsAgree: the same link flags give the same link in probe and run.
func TestProbeAndRunLinkFlagsAgree(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"--preset", "3g"},
		{"--preset", "3g", "--loss", "5"},
		{"--preset", "wifi", "--delay", "30ms", "--jitter", "10ms", "--seed", "4"},
		{"--delay", "20ms", "--jitter", "5ms", "--reorder", "--duplicate", "1", "--rate", "2000", "--queue", "20",
			"--queue-bytes", "30000", "--mtu", "1280", "--blackhole", "1s", "--burst", "1,30,50,0.5"},
		{"--preset", "wifi", "--loss", "0"},
	} {
		p := newProbeFlags()
		r := newRunFlags()
		if err := p.fs.Parse(append([]string{"--link"}, args...)); err != nil {
			t.Fatal(err)
		}
		if err := r.fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		ps, perr := p.link.Spec("")
		rs, rerr := r.link.Spec("")
		if perr != nil || rerr != nil {
			t.Fatalf("%q: %v, %v", args, perr, rerr)
		}
		pl, perr := linkspec.Resolve(ps, "")
		rl, rerr := linkspec.Resolve(rs, "")
		if perr != nil || rerr != nil || pl != rl {
			t.Errorf("%q: probe %+v (%v), run %+v (%v)", args, pl, perr, rl, rerr)
		}
		if len(args) > 2 && !pl.Edited {
			t.Errorf("%q: not an edit: %+v", args, pl)
		}
	}
	// --jitter is delay variation in both: it reorders only with --reorder.
	r := newRunFlags()
	if err := r.fs.Parse([]string{"--delay", "20ms", "--jitter", "5ms"}); err != nil {
		t.Fatal(err)
	}
	rs, _ := r.link.Spec("")
	if rl, err := linkspec.Resolve(rs, ""); err != nil || rl.Settings.ClientToServer.Reorder || rl.Settings.ClientToServer.Jitter != 5*time.Millisecond {
		t.Errorf("run --jitter 5ms: %+v, %v", rl, err)
	}
}
