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

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt scenarios.Options
	params := kvFlag{}
	fs.StringVar(&opt.Preset, "preset", "", "link preset (default: the scenario's own); see the list below")
	loss := fs.Float64("loss", 0, "random loss in percent, each direction (replaces the preset)")
	delay := fs.Duration("delay", 0, "one-way delay, each direction (replaces the preset)")
	jitter := fs.Duration("jitter", 0, "delay jitter, each direction; reorders packets")
	rate := fs.Int64("rate", 0, "rate limit in kbit/s, each direction")
	fs.Int64Var(&opt.Seed, "seed", 1, "seed of the first run's link; run i uses seed+i")
	fs.IntVar(&opt.Repeat, "repeat", 1, "number of runs; figures are given as mean ± 95% confidence interval")
	format := fs.String("format", "table", "output: table, json or csv")
	fs.StringVar(&opt.OutDir, "out", "", "write each run's pcapng capture and qlog into this directory")
	htmlFile := fs.String("html", "", "write a self-contained HTML report with the charts to this file")
	fs.Var(params, "param", "scenario parameter name=value (repeatable)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wireplay run NAME [--preset P | --loss PCT --delay D --jitter D --rate KBPS] [--seed S] [--repeat R] [--format table|json|csv] [--out DIR] [--html FILE] [--param k=v]\n\nRuns one scenario on the emulated link and prints what it measured.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nScenarios:\n")
		for _, s := range scenarios.All() {
			fmt.Fprintf(stderr, "  %-12s %s\n", s.Name, s.Summary)
			for _, p := range s.Params {
				fmt.Fprintf(stderr, "  %12s   --param %s=%s  %s\n", "", p.Name, p.Default, p.Help)
			}
		}
		fmt.Fprintf(stderr, "\nPresets:\n")
		for _, p := range link.Presets {
			fmt.Fprintf(stderr, "  %-15s %s\n", p.Name, p.Description)
		}
	}
	// The scenario name may come before or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
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
	if *format != "table" && *format != "json" && *format != "csv" {
		fmt.Fprintf(stderr, "wireplay run: unknown format %q (want table, json or csv)\n", *format)
		return 2
	}
	custom := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "loss", "delay", "jitter", "rate":
			custom = true
		}
	})
	if custom {
		if opt.Preset != "" {
			fmt.Fprintln(stderr, "wireplay run: give --preset or --loss/--delay/--jitter/--rate, not both")
			return 2
		}
		if *loss < 0 || *loss > 100 || *delay < 0 || *jitter < 0 || *rate < 0 {
			fmt.Fprintln(stderr, "wireplay run: --loss must be 0..100 and --delay, --jitter, --rate not negative")
			return 2
		}
		set := link.Both(link.Impairment{Delay: *delay, Jitter: *jitter, Reorder: *jitter > 0, Loss: *loss / 100, RateBitsPerSec: *rate * 1000})
		opt.Settings = &set
	}
	opt.Params = params
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := scenarios.Run(ctx, s, opt)
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
