package main

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/wireplay/wireplay/linkspec"
)

// TestTopLevelHelp: `wireplay --help`, `-h` and `wireplay help` list every command on stdout,
// nothing on stderr, and exit 0; a command's own help also goes to stdout.
func TestTopLevelHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 || errOut.Len() > 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
		for _, cmd := range []string{"wireplay [serve]", "wireplay probe", "wireplay scenarios", "wireplay run NAME", "wireplay bench", "wireplay room create", "wireplay help"} {
			if !strings.Contains(out.String(), cmd) {
				t.Errorf("%v: stdout lacks %q:\n%s", args, cmd, out.String())
			}
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "-h"}, "Usage: wireplay serve"},
		{[]string{"probe", "--help"}, "Usage: wireplay probe"},
		{[]string{"help", "run"}, "Usage: wireplay run"},
		{[]string{"run", "hol", "-h"}, "Parameters of hol"},
		{[]string{"scenarios", "-h"}, "Usage: wireplay scenarios"},
		{[]string{"bench", "--help"}, "Usage: wireplay bench"},
	} {
		var out, errOut bytes.Buffer
		if code := run(tt.args, &out, &errOut); code != 0 || errOut.Len() > 0 || !strings.Contains(out.String(), tt.want) {
			t.Errorf("%v: exit %d, stdout %.80q lacks %q, stderr %q", tt.args, code, out.String(), tt.want, errOut.String())
		}
	}
}

// repeated finds a prefix said twice: "probe: probe:", "dial tcp: dial tcp 127.0.0.1:1",
// "wireplay run: run boundaries" (a part of the message ending with the word the next begins with).
func repeated(msg string) string {
	parts := strings.Split(msg, ": ")
	for i := 1; i < len(parts); i++ {
		a, b := strings.Fields(parts[i-1]), strings.Fields(parts[i])
		if len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[0] {
			return parts[i-1] + ": " + parts[i]
		}
	}
	return ""
}

// TestUsageErrors: every command exits 2 on a usage error, with one line on stderr naming the
// flag (or argument) and the value at fault, its prefix said once, and nothing on stdout.
func TestUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"probe", "--link", "--loss", "150"}, "wireplay probe: --loss 150: must be 0..100"},
		{[]string{"probe", "--link", "--jitter", "5ms"}, "wireplay probe: --jitter 5ms: must be at most the delay (0s)"},
		{[]string{"probe", "--link", "--burst", "1,2"}, `wireplay probe: --burst "1,2": want P,R,BAD or P,R,BAD,GOOD in percent`},
		{[]string{"probe", "--link", "--preset", "moon"}, `wireplay probe: unknown preset "moon"`},
		{[]string{"probe", "--loss", "5"}, "wireplay probe: --loss need --link"},
		{[]string{"probe", "--count", "0"}, "wireplay probe: --count 0: must be at least 1"},
		{[]string{"probe", "--count", "abc"}, "wireplay probe: --count abc: not an integer"},
		{[]string{"probe", "--size", "0", "--link"}, "wireplay probe: --size 0: must be at least 1"},
		{[]string{"probe", "--interval", "-1ms"}, "wireplay probe: --interval -1ms: must be at least 0"},
		{[]string{"probe", "--interval", "5"}, "wireplay probe: --interval 5: not a duration"},
		{[]string{"probe", "--window", "0"}, "wireplay probe: --window 0: must be at least 1"},
		{[]string{"probe", "--timeout", "0s"}, "wireplay probe: --timeout 0s: must be more than 0"},
		{[]string{"probe", "--transport", "sctp"}, `wireplay probe: --transport "sctp": want one of tcp, udp, quic-stream, quic-dgram, ws`},
		{[]string{"probe", "extra"}, `wireplay probe: unexpected argument "extra"`},
		{[]string{"probe", "--nope"}, "wireplay probe: flag provided but not defined: --nope"},
		{[]string{"run", "boundaries", "--repeat", "0"}, "wireplay run: --repeat 0: must be 1..1000"},
		{[]string{"run", "--seed", "2", "boundaries", "--repeat", "-1"}, "wireplay run: --repeat -1: must be 1..1000"},
		{[]string{"run", "handshake", "--param", "requests=abc"}, `wireplay run: --param requests "abc" is not a number`},
		{[]string{"run", "boundaries", "--loss", "150"}, "wireplay run: --loss 150: must be 0..100"},
		{[]string{"run", "boundaries", "--delay", "-5ms"}, "wireplay run: --delay -5ms: must be 0..5s"},
		{[]string{"run", "boundaries", "extra"}, `wireplay run: unexpected argument "extra"`},
		{[]string{"scenarios", "extra"}, `wireplay scenarios: unexpected argument "extra"`},
		{[]string{"bench", "extra"}, `wireplay bench: unexpected argument "extra"`},
		{[]string{"serve", "extra"}, `wireplay serve: unexpected argument "extra"`},
		{[]string{"serve", "--capture-mib", "0"}, "wireplay serve: --capture-mib 0: must be 1..4096"},
		{[]string{"serve", "--qlog-mib", "5000"}, "wireplay serve: --qlog-mib 5000: must be 1..4096"},
		{[]string{"help", "frobnicate"}, `wireplay: unknown command "frobnicate"`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, &out, &errOut)
			first, _, _ := strings.Cut(errOut.String(), "\n")
			if code != 2 || !strings.HasPrefix(first, tt.want) || out.Len() > 0 {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit 2 and %q", code, errOut.String(), out.String(), tt.want)
			}
			if m := repeated(first); m != "" {
				t.Errorf("%q says %q twice", first, m)
			}
		})
	}
}

// TestRunFailureSaidOnce: a scenario that fails (here: its --timeout passes) exits 1 and says
// "run NAME" once.
func TestRunFailureSaidOnce(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"run", "boundaries", "--timeout", "1ms"}, &out, &errOut)
	msg := errOut.String()
	if code != 1 || !strings.HasPrefix(msg, "wireplay run boundaries (repeat 1, seed 1): ") || !strings.Contains(msg, "(--timeout 1ms passed)") {
		t.Errorf("exit %d, stderr %q", code, msg)
	}
	if m := repeated(msg); m != "" {
		t.Errorf("%q says %q twice", msg, m)
	}
}

// TestREADMEFlags: every flag the README gives a `wireplay probe` or `wireplay run` command is
// one of that command's, and the README names every link flag.
func TestREADMEFlags(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	flagRE := regexp.MustCompile(`(?:^|[\s\x60\[(])--([a-z][a-z-]*)`)
	fss := map[string]*flag.FlagSet{"probe": newProbeFlags().fs, "run": newRunFlags().fs}
	checked := 0
	for line := range strings.Lines(string(b)) {
		for cmd, fs := range fss {
			if !strings.Contains(line, "wireplay "+cmd+" ") {
				continue
			}
			for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
				checked++
				if fs.Lookup(m[1]) == nil && m[1] != "help" {
					t.Errorf("README: wireplay %s has no flag --%s: %s", cmd, m[1], strings.TrimSpace(line))
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d flags of probe and run commands found in the README", checked)
	}
	for _, n := range linkspec.FlagNames {
		if !strings.Contains(string(b), "--"+n+" ") && !strings.Contains(string(b), "--"+n+"`") {
			t.Errorf("README does not name the link flag --%s", n)
		}
	}
}

// TestEnvFlags: every serve flag can come from WIREPLAY_NAME; the command line wins; a list flag
// splits on commas; a bad value names the variable and the flag.
func TestEnvFlags(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("http-addr", "127.0.0.1:8080", "")
	links := fs.Int("max-links", 64, "")
	tcp := fs.String("tcp-addr", "127.0.0.1:7001", "")
	var hosts listFlag
	fs.Var(&hosts, "allow-host", "")
	if err := fs.Parse([]string{"--tcp-addr", "127.0.0.1:9"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"WIREPLAY_HTTP_ADDR":  "0.0.0.0:80",
		"WIREPLAY_MAX_LINKS":  "3",
		"WIREPLAY_TCP_ADDR":   "127.0.0.1:1", // given on the command line: ignored
		"WIREPLAY_ALLOW_HOST": "a.example, b.example",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := envFlags(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if *addr != "0.0.0.0:80" || *links != 3 || *tcp != "127.0.0.1:9" || strings.Join(hosts, "|") != "a.example|b.example" {
		t.Errorf("http-addr %q, max-links %d, tcp-addr %q, allow-host %q", *addr, *links, *tcp, hosts)
	}
	env = map[string]string{"WIREPLAY_MAX_LINKS": "lots"}
	fs2 := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs2.Int("max-links", 64, "")
	err := envFlags(fs2, lookup)
	if err == nil || err.Error() != "WIREPLAY_MAX_LINKS=lots (for --max-links): not an integer" {
		t.Errorf("bad value: %v", err)
	}
	for _, kv := range [][2]string{{"WIREPLAY_MAX_LINKS", "lots"}, {"WIREPLAY_LOG_FORMAT", "xml"}, {"WIREPLAY_QUIC_RETRY_THRESHOLD", "many"},
		{"WIREPLAY_RELAY_IDLE_TIMEOUT", "-1s"}, {"WIREPLAY_ROOM_GRACE", "-1s"}, {"WIREPLAY_BROKER", "redis://127.0.0.1:6379"}} {
		t.Run(kv[0], func(t *testing.T) {
			t.Setenv(kv[0], kv[1])
			var out, errOut bytes.Buffer
			if code := run([]string{"serve", "--http-addr", "127.0.0.1:0"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), kv[1]) {
				t.Errorf("serve with %s=%s: exit %d, stderr %q", kv[0], kv[1], code, errOut.String())
			}
		})
	}
}
