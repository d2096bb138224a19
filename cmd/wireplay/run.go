package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
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
	if len(args) > 0 {
		fmt.Fprint(stdout, "Usage: wireplay scenarios\n\nLists the scenarios `wireplay run NAME` runs, one line each.\n")
		return 0
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

func newRunFlags(stderr io.Writer) *runFlags {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
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
	r.fs.PrintDefaults()
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
	r := newRunFlags(stderr)
	fs, opt := r.fs, &r.opt
	// The scenario name may come before or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	fs.Usage = func() { r.usage(stderr, scenarios.Lookup(name)) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		fmt.Fprintln(stderr, "wireplay run: name a scenario (wireplay scenarios lists them)")
		return 2
	}
	s := scenarios.Lookup(name)
	if s == nil {
		fmt.Fprintf(stderr, "wireplay run: unknown scenario %q (wireplay scenarios lists them)\n", name)
		return 2
	}
	format, htmlFile, timeout, params := r.format, r.htmlFile, r.timeout, r.params
	if *format != "table" && *format != "json" && *format != "csv" {
		fmt.Fprintf(stderr, "wireplay run: unknown format %q (want table, json or csv)\n", *format)
		return 2
	}
	spec, err := r.link.Spec(s.Preset)
	if err != nil { // an unknown preset
		fmt.Fprintf(stderr, "wireplay run: %v\n", err)
		return 1
	}
	ls, err := linkspec.Resolve(spec, s.Preset)
	if err != nil { // a flag's value out of range
		fmt.Fprintf(stderr, "wireplay run: %v\n", err)
		return 2
	}
	opt.Preset, opt.Settings, opt.Seed = ls.Name(), &ls.Settings, ls.Seed
	opt.Params = params
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := scenarios.Run(ctx, s, *opt)
	if err != nil {
		fmt.Fprintf(stderr, "wireplay run: %v\n", err)
		return 1
	}
	if err := scenarios.Write(stdout, rep, *format); err != nil {
		fmt.Fprintf(stderr, "wireplay run: %v\n", err)
		return 1
	}
	if *htmlFile != "" {
		f, err := os.Create(*htmlFile)
		if err == nil {
			err = errors.Join(report.WriteHTML(f, rep), f.Close())
		}
		if err != nil {
			fmt.Fprintf(stderr, "wireplay run: html report: %v\n", err)
			return 1
		}
		if *format == "table" {
			fmt.Fprintf(stdout, "wrote %s\n", *htmlFile)
		}
	}
	return 0
}

// writeParams lists scenario s's parameters: name, kind and unit, range, default and help.
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
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.Name, kind, rng, p.Default, p.Help)
	}
	tw.Flush()
}
