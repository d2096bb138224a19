// Command wireplay is a network-transport playground: `wireplay serve` runs real TCP, UDP, QUIC
// and WebSocket echo endpoints with a page that sends each message over all of them side by side;
// `wireplay probe` measures one endpoint from the command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wireplay/wireplay/bench"
	"github.com/wireplay/wireplay/linkspec"
	"github.com/wireplay/wireplay/probe"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

const usage = `wireplay: see how TCP, UDP, QUIC and WebSocket differ.

Usage:
  wireplay [serve] [flags]   run the endpoints and the page (the default)
  wireplay probe [flags]     measure one transport of a running wireplay server, or
                             (--link) of echo endpoints across an emulated, impaired link
  wireplay scenarios         list the lessons' scenarios, one line each
  wireplay run NAME [flags]  run one scenario on the emulated link (table, JSON or CSV; --html report)
  wireplay bench             run the performance benchmarks and compare them with their goals
  wireplay help [command]    show a command's flags

Run "wireplay help serve" or "wireplay help probe" for their flags.
`

const benchUsage = `Usage: wireplay bench

Runs wireplay's benchmarks in this process (client and server on loopback) and prints
each figure beside its goal. The same benchmarks run with: go tool task bench
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr)
	case "probe":
		return probeCmd(args, stdout, stderr)
	case "scenarios":
		return scenariosCmd(args, stdout, stderr)
	case "run":
		return runCmd(args, stdout, stderr)
	case "bench":
		if len(args) > 0 {
			fmt.Fprint(stdout, benchUsage)
			return 0
		}
		bench.Report(stdout)
		return 0
	case "help":
		if len(args) > 0 {
			return run([]string{args[0], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "wireplay: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	var origins listFlag
	var verbose bool
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:8080", "page, static files, /relay, /ws/echo and /healthz")
	fs.StringVar(&cfg.TCPAddr, "tcp-addr", "127.0.0.1:7001", "TCP echo endpoint (port 0 picks a free port)")
	fs.StringVar(&cfg.UDPAddr, "udp-addr", "127.0.0.1:7002", "UDP echo endpoint")
	fs.StringVar(&cfg.QUICAddr, "quic-addr", "127.0.0.1:7003", "QUIC echo endpoint (ALPN \"wireplay\", streams and datagrams)")
	fs.StringVar(&cfg.CertFile, "cert", "", "QUIC certificate file (PEM); default: a self-signed certificate made at start")
	fs.StringVar(&cfg.KeyFile, "key", "", "QUIC key file (PEM)")
	fs.Var(&origins, "allow-origin", "also allow this origin on /relay (host pattern or scheme://host); repeatable")
	fs.IntVar(&cfg.MaxRelayPerIP, "max-relay-per-ip", 8, "concurrent relay connections allowed from one IP")
	fs.IntVar(&cfg.MaxLinks, "max-links", 64, "emulated links (pages in link mode) allowed at once; each holds two netstacks")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 60*time.Second, "close transport connections unused this long")
	fs.DurationVar(&cfg.LossTimeout, "loss-timeout", time.Second, "report a datagram lost when its echo takes longer")
	fs.BoolVar(&verbose, "v", false, "log debug messages")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wireplay serve [flags]\n\nRuns the TCP, UDP, QUIC and WebSocket echo endpoints and the page.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wireplay serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.AllowOrigins = origins
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := server.New(cfg)
	if err := s.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "wireplay serve: %v\n", err)
		return 1
	}
	a := s.Addrs()
	fmt.Fprintf(stdout, "wireplay serving\n  page       http://%s/\n  websocket  ws://%s/ws/echo\n  tcp        %s\n  udp        %s\n  quic       %s (ALPN wireplay)\n",
		a.HTTP, a.HTTP, a.TCP, a.UDP, a.QUIC)
	<-ctx.Done()
	stop()
	fmt.Fprintln(stdout, "wireplay: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "wireplay serve: shutdown: %v\n", err)
	}
	return 0
}

// probeFlags are `wireplay probe`'s flags.
type probeFlags struct {
	fs        *flag.FlagSet
	o         probe.Options
	transport string
	timeout   *time.Duration
	useLink   *bool
	link      *linkspec.Flags
	pcap      string
}

func newProbeFlags(stderr io.Writer) *probeFlags {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := &probeFlags{fs: fs}
	o := &p.o
	fs.StringVar(&p.transport, "transport", "tcp", "tcp, udp, quic-stream, quic-dgram or ws")
	fs.StringVar(&o.Addr, "addr", "", "endpoint address host:port (default: wireplay serve's default for the transport); for ws the HTTP address or a ws:// URL")
	fs.IntVar(&o.Count, "count", 10, "messages to send")
	fs.IntVar(&o.Size, "size", 64, "bytes per message")
	fs.DurationVar(&o.Interval, "interval", 0, "time between sends; 0 waits for each echo before the next")
	fs.DurationVar(&o.LossTimeout, "loss-timeout", time.Second, "a datagram whose echo takes longer is lost")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per line")
	p.timeout = fs.Duration("timeout", time.Minute, "give up after this long")
	p.useLink = fs.Bool("link", false, "run both ends in this process across an emulated link (wireplay's echo endpoints on its server host); --addr is ignored")
	p.link = linkspec.AddFlags(fs, "with --link: the preset to start from (default clean)",
		"with --link: seed of the link's random choices (same seed, same drops)")
	fs.StringVar(&p.pcap, "pcap", "", "with --link: write a pcapng capture of the run to this file")
	fs.StringVar(&o.QLogDir, "qlog", "", "write a qlog (.sqlog) of each QUIC connection to this directory (with --link, client and server)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: wireplay probe --transport T [--addr A] [--count N] [--size S] [--json]
       wireplay probe --link [--preset P] [--loss PCT] [--delay D] [--jitter D] [--reorder] [--rate KBPS] [--seed S] [--pcap FILE] [--qlog DIR] --transport T ...

Sends numbered messages to a wireplay endpoint and prints each RTT and a summary.

With --link, no server is needed: the echo endpoints and the probe run in this process, on the two
hosts of an emulated, impaired link (gVisor netstack). The link flags (--loss, --delay, --jitter,
--reorder, --duplicate, --rate, --queue, --queue-bytes, --mtu, --blackhole, --burst) apply to
BOTH directions, each replacing its field of --preset and keeping the others (as in wireplay run).
--jitter is delay variation; packets keep their order unless --reorder is given. The summary
adds the link's packet counts per direction (sent, delivered, dropped by rule, duplicated) and the
stack's own: TCP retransmissions (TCP_INFO) and QUIC packets lost (quic-go).

Flags:
`)
		fs.PrintDefaults()
	}
	return p
}

func probeCmd(args []string, stdout, stderr io.Writer) int {
	p := newProbeFlags(stderr)
	fs, o := p.fs, &p.o
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *p.useLink {
		spec, err := p.link.Spec("")
		if err != nil {
			fmt.Fprintf(stderr, "wireplay probe: %v\n", err)
			return 1
		}
		o.Link = &probe.LinkOptions{Spec: spec, Pcap: p.pcap}
	} else {
		linkOnly := p.link.Given()
		if p.pcap != "" {
			linkOnly = append(linkOnly, "--pcap")
		}
		if len(linkOnly) > 0 {
			fmt.Fprintf(stderr, "wireplay probe: %s need --link\n", strings.Join(linkOnly, ", "))
			return 2
		}
	}
	transport, timeout := p.transport, p.timeout
	o.Transport = protocol.Transport(transport)
	if o.Addr == "" {
		o.Addr = map[protocol.Transport]string{
			protocol.TCP: "127.0.0.1:7001", protocol.UDP: "127.0.0.1:7002",
			protocol.QUICStream: "127.0.0.1:7003", protocol.QUICDgram: "127.0.0.1:7003",
			protocol.WS: "127.0.0.1:8080",
		}[o.Transport]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if _, err := probe.Run(ctx, *o, stdout); err != nil {
		fmt.Fprintf(stderr, "wireplay probe: %v\n", err)
		return 1
	}
	return 0
}
