package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/linkspec"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/report"
	"github.com/wireplay/wireplay/scenarios"
)

func scenariosCmd(args []string, stdout, stderr io.Writer) int {
	if code, ok := noArgs("scenarios", args, "Usage: wireplay scenarios\n\nLists the scenarios `wireplay run NAME` runs, one line each.\n", stdout, stderr); !ok {
		return code
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, s := range scenarios.All() {
		fmt.Fprintf(tw, "%s\t%s\t(preset %s)\n", s.Name, s.Summary, s.Preset)
	}
	tw.Flush()
	return 0
}

type kvFlag map[string]string

func (m kvFlag) String() string { return "" }
func (m kvFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	m[k] = val
	return nil
}

// runFlags are `wireplay run`'s flags.
type runFlags struct {
	fs       *flag.FlagSet
	opt      scenarios.Options
	params   kvFlag
	link     *linkspec.Flags
	format   *string
	htmlFile *string
	timeout  *time.Duration
}

func newRunFlags() *runFlags {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	r := &runFlags{fs: fs, params: kvFlag{}}
	r.link = linkspec.AddFlags(fs, "default: the scenario's own",
		"seed of the first run's link; run i uses seed+i")
	fs.IntVar(&r.opt.Repeat, "repeat", 1, "number of runs; figures are given as mean ± 95% confidence interval")
	r.format = fs.String("format", "table", "output: table, json or csv")
	fs.StringVar(&r.opt.OutDir, "out", "", "write each run's pcapng capture and qlog into this directory")
	r.htmlFile = fs.String("html", "", "write a self-contained HTML report with the charts to this file")
	fs.Var(r.params, "param", "scenario parameter name=value (repeatable; wireplay run NAME --help lists them)")
	r.timeout = fs.Duration("timeout", 5*time.Minute, "give up after this long")
	return r
}

// runUsage is `wireplay run`'s help; with a scenario named, it lists that scenario's parameters.
func (r *runFlags) usage(w io.Writer, s *scenarios.Scenario) {
	fmt.Fprintf(w, `Usage: wireplay run NAME [--preset P] [--loss PCT] [--delay D] [--jitter D] [--reorder] [--rate KBPS] ... [--seed S] [--repeat R] [--format table|json|csv] [--out DIR] [--html FILE] [--param k=v]

Runs one scenario on the emulated link and prints what it measured.

The link is the scenario's preset, or --preset's; each link flag given (--loss, --delay, --jitter,
--reorder, --duplicate, --rate, --queue, --queue-bytes, --mtu, --blackhole, --burst) replaces its field in
BOTH directions and keeps the others, as in wireplay probe --link. --jitter is delay variation
only; add --reorder to let it reorder packets (before, run's --jitter also reordered).

Flags:
`)
	withOutput(r.fs, w, r.fs.PrintDefaults)
	if s != nil {
		fmt.Fprintf(w, "\nParameters of %s (--param NAME=VALUE):\n", s.Name)
		writeParams(w, s)
	} else {
		fmt.Fprintf(w, "\nScenarios (wireplay run NAME --help lists a scenario's parameters):\n")
		for _, s := range scenarios.All() {
			fmt.Fprintf(w, "  %-12s %s\n", s.Name, s.Summary)
		}
	}
	fmt.Fprintf(w, "\nPresets:\n")
	for _, p := range link.Presets {
		fmt.Fprintf(w, "  %-15s %s\n", p.Name, p.Description)
	}
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	r := newRunFlags()
	// The scenario name may come before or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	help := func(w io.Writer) { r.usage(w, scenarios.Lookup(name)) }
	if code, ok := parseFlags(r.fs, args, help, stdout, stderr); !ok {
		return code
	}
	if name == "" && r.fs.NArg() > 0 { // flags, the name, then maybe more flags
		name = r.fs.Arg(0)
		if code, ok := parseFlags(r.fs, r.fs.Args()[1:], help, stdout, stderr); !ok {
			return code
		}
	}
	s, opt, err := r.options(name)
	if err != nil {
		fmt.Fprintf(stderr, "wireplay run: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *r.timeout)
	defer cancel()
	if w := progress(stderr); w != io.Discard && opt.Repeat > 1 {
		opt.RunDone = runProgress(w, s.Name)
	}
	rep, err := scenarios.Run(ctx, s, opt)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (--timeout %v passed)", err, *r.timeout)
		}
		// The runner's errors start "run NAME …": said once, as the command.
		if msg := err.Error(); strings.HasPrefix(msg, "run "+s.Name) {
			fmt.Fprintf(stderr, "wireplay %s\n", msg)
		} else {
			fmt.Fprintf(stderr, "wireplay run: %s\n", msg)
		}
		return 1
	}
	return r.write(rep, stdout, stderr)
}

// options checks the flags for scenario name and returns it and its options, or the usage error.
func (r *runFlags) options(name string) (*scenarios.Scenario, scenarios.Options, error) {
	opt := r.opt
	if name == "" {
		return nil, opt, errors.New("name a scenario (wireplay scenarios lists them)")
	}
	if r.fs.NArg() > 0 {
		return nil, opt, fmt.Errorf("unexpected argument %q (wireplay help run)", r.fs.Arg(0))
	}
	s := scenarios.Lookup(name)
	if s == nil {
		return nil, opt, fmt.Errorf("unknown scenario %q (wireplay scenarios lists them)", name)
	}
	if f := *r.format; f != "table" && f != "json" && f != "csv" {
		return nil, opt, fmt.Errorf("--format %q: want table, json or csv", f)
	}
	if opt.Repeat < 1 || opt.Repeat > 1000 {
		return nil, opt, fmt.Errorf("--repeat %d: must be 1..1000", opt.Repeat)
	}
	if *r.timeout <= 0 {
		return nil, opt, fmt.Errorf("--timeout %v: must be more than 0", *r.timeout)
	}
	if err := checkParams(s, r.params); err != nil {
		return nil, opt, err
	}
	spec, err := r.link.Spec(s.Preset)
	if err != nil { // an unknown preset, a flag's value out of range
		return nil, opt, err
	}
	ls, err := linkspec.Resolve(spec, s.Preset)
	if err != nil {
		return nil, opt, err
	}
	opt.Preset, opt.Settings, opt.Seed = ls.Name(), &ls.Settings, ls.Seed
	opt.Params = r.params
	return s, opt, nil
}

// checkParams checks each --param against scenario s's declaration, naming the parameter and
// its value: "--param requests "abc" is not a number".
func checkParams(s *scenarios.Scenario, given map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(given)) {
		i := slices.IndexFunc(s.Params, func(p scenarios.Param) bool { return p.Name == k })
		if i < 0 {
			return fmt.Errorf("--param %s=%s: no such parameter (wireplay run %s --help lists them)", k, given[k], s.Name)
		}
		p, v := s.Params[i], given[k]
		if p.Kind == protocol.ParamInt {
			items := []string{v}
			if p.List {
				items = strings.Split(v, ",")
			}
			for _, it := range items {
				if it = strings.TrimSpace(it); it != "" && !isNumber(it) {
					return fmt.Errorf("--param %s %q is not a number", k, it)
				}
			}
		}
		if _, err := p.Parse(v); err != nil {
			return fmt.Errorf("--param %v", err)
		}
	}
	return nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// write prints the report in the format asked for, and the HTML report when asked for.
func (r *runFlags) write(rep *scenarios.Report, stdout, stderr io.Writer) int {
	if err := scenarios.Write(stdout, rep, *r.format); err != nil {
		fmt.Fprintf(stderr, "wireplay run: %v\n", err)
		return 1
	}
	if *r.htmlFile == "" {
		return 0
	}
	f, err := os.Create(*r.htmlFile)
	if err == nil {
		err = errors.Join(report.WriteHTML(f, rep), f.Close())
	}
	if err != nil {
		fmt.Fprintf(stderr, "wireplay run: html report: %v\n", err)
		return 1
	}
	if *r.format == "table" {
		fmt.Fprintf(stdout, "wrote %s\n", *r.htmlFile)
	}
	return 0
}

// writeParams lists scenario s's parameters: name, kind and unit, range, default, and the label
// the page shows with the help.
func writeParams(w io.Writer, s *scenarios.Scenario) {
	if len(s.Params) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  name\tkind\trange\tdefault\thelp")
	for _, p := range s.Params {
		kind := p.Kind
		if p.Kind == protocol.ParamEnum {
			kind = strings.Join(p.Values, "|")
		}
		if p.Unit != "" {
			kind += ", " + p.Unit
		}
		if p.List {
			kind = "list of " + kind
		}
		rng := "-"
		switch {
		case p.Min != "" && p.Max != "":
			rng = p.Min + ".." + p.Max
		case p.Min != "":
			rng = "≥ " + p.Min
		case p.Max != "":
			rng = "≤ " + p.Max
		}
		help := p.Help
		if p.Label != "" {
			help = p.Label + ": " + help // the page's name for it
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.Name, kind, rng, p.Default, help)
	}
	tw.Flush()
}

// runProgress writes "run NAME: 3 of 10 done" over itself on a terminal, and a newline after the
// last.
func runProgress(w io.Writer, name string) func(done, total int) {
	return func(done, total int) {
		fmt.Fprintf(w, "\rrun %s: %d of %d done", name, done, total)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}
