package scenarios

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Formats Write knows.
var Formats = []string{"table", "json", "csv"}

// Write prints a report as "table" (for people), "json" (the whole report) or "csv" (one row per
// metric: scenario, transport, metric, unit, n, mean, ci95, min, max).
func Write(w io.Writer, rep *Report, format string) error {
	switch format {
	case "", "table":
		return writeTable(w, rep)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"scenario", "transport", "metric", "unit", "n", "mean", "ci95", "min", "max"})
		for _, s := range rep.Stats {
			cw.Write([]string{rep.Scenario, s.Transport, s.Name, s.Unit, strconv.Itoa(s.N), f(s.Mean), f(s.CI95), f(s.Min), f(s.Max)})
		}
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

func f(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func writeTable(w io.Writer, rep *Report) error {
	fmt.Fprintf(w, "%s — %s\n", rep.Scenario, rep.Title)
	fmt.Fprintf(w, "link: %s (up: %s; down: %s), seed %d, %d run(s), %.0f ms\n\n", rep.Preset, rep.Up, rep.Down, rep.Seed, rep.Repeat, rep.WallMillis)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "transport\tmetric\tmean\t± 95% CI\tunit\tmin\tmax")
	for _, s := range rep.Stats {
		ci := "-"
		if s.N > 1 {
			ci = fmtNum(s.CI95)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(s.Transport), s.Name, fmtNum(s.Mean), ci, s.Unit, fmtNum(s.Min), fmtNum(s.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Runs) > 0 {
		for _, t := range rep.Runs[0].Tables {
			fmt.Fprintf(w, "\n%s\n", t.Title)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, strings.Join(t.Columns, "\t"))
			for _, r := range t.Rows {
				fmt.Fprintln(tw, strings.Join(r, "\t"))
			}
			tw.Flush()
		}
	}
	fmt.Fprintf(w, "\n%s\n", rep.Conclusion)
	for _, file := range rep.Files {
		fmt.Fprintf(w, "wrote %s\n", file)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtNum(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e9 && v > -1e9:
		return strconv.FormatInt(int64(v), 10)
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1 || v <= -1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
