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
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/wireplay/wireplay/bench"
	"github.com/wireplay/wireplay/broker/natsbroker"
	"github.com/wireplay/wireplay/linkspec"
	"github.com/wireplay/wireplay/probe"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
	"github.com/wireplay/wireplay/servermodels"
	"github.com/wireplay/wireplay/zeromq"
)

const usage = `wireplay: see how TCP, UDP, QUIC and WebSocket differ.

Usage:
  wireplay [serve] [flags]   run the endpoints and the page (the default)
  wireplay probe [flags]     measure one transport of a running wireplay server, or
                             (--link) of echo endpoints across an emulated, impaired link
  wireplay scenarios         list the lessons' scenarios, one line each
  wireplay run NAME [flags]  run one scenario on the emulated link (table, JSON or CSV; --html report)
  wireplay bench             run the performance benchmarks and compare them with their goals
  wireplay room create       create a workshop room on a running server (--server URL --token T)
  wireplay loadtest          load a server's workshop rooms with simulated participants (--self: its own)
  wireplay help [command]    show a command's flags

Run "wireplay help serve" or "wireplay help probe" for their flags.
`

const benchUsage = `Usage: wireplay bench

Runs wireplay's benchmarks in this process (client and server on loopback) and prints
each figure beside its goal. The same benchmarks run with: go tool task bench
`

func main() {
	bench.RunChild()        // a two-process benchmark's server or client, when `wireplay bench` started this one
	servermodels.RunChild() // a process-per-connection server's child, handed its connection as fd 3
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command: its exit code is 0 on success, 2 for a usage error (an unknown command,
// flag or argument, a flag's value out of range) and 1 when what was asked for failed.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && isHelp(args[0]) {
		cmd, args = "help", nil
	}
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
		return benchCmd(args, stdout, stderr)
	case "healthcheck":
		return healthcheckCmd(args, stdout, stderr)
	case "room":
		return roomCmd(args, stdout, stderr)
	case "loadtest":
		return loadtestCmd(args, stdout, stderr)
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

// isHelp says arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

// noArgs is the exit code of a command that takes no arguments given args: its help on stdout
// for -h (0), a usage error for anything else (2); ok says there were none.
func noArgs(name string, args []string, help string, stdout, stderr io.Writer) (code int, ok bool) {
	switch {
	case len(args) == 0:
		return 0, true
	case len(args) == 1 && isHelp(args[0]):
		fmt.Fprint(stdout, help)
		return 0, false
	}
	fmt.Fprintf(stderr, "wireplay %s: unexpected argument %q (wireplay help %s)\n", name, args[0], name)
	return 2, false
}

func benchCmd(args []string, stdout, stderr io.Writer) int {
	if code, ok := noArgs("bench", args, benchUsage, stdout, stderr); !ok {
		return code
	}
	if missed := bench.Report(stdout, progress(stderr)); len(missed) > 0 {
		fmt.Fprintf(stderr, "wireplay bench: %d %s their goal: %s\n", len(missed), plural(len(missed), "figure misses", "figures miss"), strings.Join(missed, "; "))
		return 1
	}
	return 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// parseFlags parses args into fs. -h prints help on stdout (exit 0); a bad flag is named on
// stderr, with where its command's flags are listed (exit 2). ok says to go on.
func parseFlags(fs *flag.FlagSet, args []string, help func(io.Writer), stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		help(stdout)
		return 0, false
	}
	fmt.Fprintf(stderr, "wireplay %s: %s (wireplay help %s lists the flags)\n", fs.Name(), flagError(fs, err), fs.Name())
	return 2, false
}

// envFlags sets each flag of fs not given on the command line from the environment variable
// WIREPLAY_NAME (the flag's name in capitals, _ for -), if set. A repeatable flag (listFlag)
// takes a comma-separated list.
func envFlags(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		name := "WIREPLAY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := lookup(name)
		if !ok {
			return
		}
		vals := []string{v}
		if _, list := f.Value.(*listFlag); list {
			vals = strings.Split(v, ",")
		}
		for _, one := range vals {
			if e := f.Value.Set(strings.TrimSpace(one)); e != nil {
				err = fmt.Errorf("%s=%s (for --%s): %s", name, v, f.Name, valueWhy(f, e.Error()))
				return
			}
		}
	})
	return err
}

// invalidValue is the flag package's message for a value its flag's type cannot parse.
var invalidValue = regexp.MustCompile(`^invalid value "(.*)" for flag -([^:]+): (.*)$`)

// flagError is the flag package's err, with a bad value said as "--count abc: not an integer".
func flagError(fs *flag.FlagSet, err error) string {
	m := invalidValue.FindStringSubmatch(err.Error())
	if m == nil {
		return strings.Replace(err.Error(), ": -", ": --", 1)
	}
	return fmt.Sprintf("--%s %s: %s", m[2], m[1], valueWhy(fs.Lookup(m[2]), m[3]))
}

// valueWhy says why a value did not parse for f in words, in place of the flag package's
// "parse error".
func valueWhy(f *flag.Flag, why string) string {
	if f == nil || why != "parse error" {
		return why
	}
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case int, int64, uint, uint64:
			return "not an integer"
		case float64:
			return "not a number"
		case time.Duration:
			return "not a duration such as 250ms or 1.5s"
		case bool:
			return "not true or false"
		}
	}
	return why
}

// withOutput runs print with fs's output set to w (fs.PrintDefaults writes there).
func withOutput(fs *flag.FlagSet, w io.Writer, print func()) {
	old := fs.Output()
	fs.SetOutput(w)
	print()
	fs.SetOutput(old)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	var origins, hosts listFlag
	var verbose bool
	var logFormat, brokerURL string
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:8080", "page, static files, /relay, /ws/echo, /healthz, /readyz and /metrics")
	fs.StringVar(&cfg.TCPAddr, "tcp-addr", "127.0.0.1:7001", "TCP echo endpoint (port 0 picks a free port)")
	fs.StringVar(&cfg.UDPAddr, "udp-addr", "127.0.0.1:7002", "UDP echo endpoint")
	fs.StringVar(&cfg.QUICAddr, "quic-addr", "127.0.0.1:7003", "QUIC echo endpoint (ALPN \"wireplay\", streams and datagrams)")
	fs.StringVar(&cfg.HTTPLessonAddr, "http-lesson-addr", "127.0.0.1:7006", "the http lesson's HTTP/1.x server written on raw sockets (curl -v, a browser); empty: off")
	fs.StringVar(&cfg.ChatTCPAddr, "chat-tcp-addr", "127.0.0.1:7007", "the workshop rooms' chat as text lines over plain TCP (nc HOST PORT, then a room's code and a name); empty: off")
	fs.StringVar(&cfg.UnixPath, "unix-path", "", "Unix stream socket echo at this path (wireplay probe --transport unix --addr PATH); empty: none")
	fs.StringVar(&cfg.ZMQAddr, "zmq-addr", "127.0.0.1:7004", "ZeroMQ REP echo (ZMTP 3.0 over TCP, libzmq clients work: each request back); empty: off")
	fs.StringVar(&cfg.ZMQPubAddr, "zmq-pub-addr", "127.0.0.1:7005", "ZeroMQ PUB: [topic, n] on topics clock, news and weather every --zmq-pub-interval; empty: off")
	fs.DurationVar(&cfg.ZMQPubInterval, "zmq-pub-interval", time.Second, "time between two rounds of the ZeroMQ PUB (one message per topic)")
	fs.StringVar(&cfg.CertFile, "cert", "", "certificate file (PEM) for the page (HTTPS, WSS) and the QUIC endpoint; default: plain HTTP and a self-signed certificate for QUIC")
	fs.StringVar(&cfg.KeyFile, "key", "", "key file (PEM) of --cert")
	fs.BoolVar(&cfg.Public, strings.TrimPrefix(server.PublicFlag, "--"), false, "allow listening on non-loopback addresses (requires TLS: --cert/--key or --domain)")
	fs.BoolVar(&cfg.PublicMetrics, "public-metrics", false, "with --public: serve /metrics to every client (without it, to loopback clients only)")
	fs.BoolVar(&cfg.PublicEndpoints, strings.TrimPrefix(server.PublicEndpointsFlag, "--"), false, "with --public: let the raw TCP/UDP/QUIC echo endpoints listen on non-loopback addresses too")
	fs.StringVar(&cfg.Domain, strings.TrimPrefix(server.DomainFlag, "--"), "", "get the certificate for this name from Let's Encrypt (ACME HTTP-01); implies answering requests for it")
	fs.StringVar(&cfg.ACMEHTTPAddr, "acme-http-addr", ":80", "with --domain: where ACME HTTP-01 challenges are answered (other plain-HTTP requests are sent to HTTPS)")
	fs.StringVar(&cfg.ACMECacheDir, "acme-cache", "", "with --domain: directory keeping the certificates (default: the user cache directory's wireplay/acme)")
	fs.StringVar(&cfg.ACMEEmail, "acme-email", "", "with --domain: contact address given to Let's Encrypt (optional)")
	fs.Var(&hosts, strings.TrimPrefix(server.AllowHostFlag, "--"), "also answer requests for this host name (Host header); others get 421; repeatable")
	fs.Var(&origins, "allow-origin", "also allow this origin on /relay (host pattern or scheme://host); repeatable")
	fs.IntVar(&cfg.MaxRelayPerIP, strings.TrimPrefix(server.MaxRelayPerIPFlag, "--"), 8, "concurrent relay connections allowed from one IP")
	fs.IntVar(&cfg.MaxConnsPerIP, "max-conns-per-ip", 32, "concurrent connections one client (an IPv4 address, an IPv6 /64) may hold to each of the TCP echo, the QUIC echo and /ws/echo (1,024 in all each)")
	fs.IntVar(&cfg.QUICRetryThreshold, "quic-retry-threshold", 64, "answer new QUIC handshakes with a Retry (address validation) once this many from unvalidated addresses are in progress; -1: never")
	fs.IntVar(&cfg.QUICMaxHandshakes, "quic-max-handshakes", 256, "refuse QUIC handshakes from unvalidated addresses beyond this many in progress")
	fs.IntVar(&cfg.MaxLinks, "max-links", 64, "emulated links (pages in link mode, room messages) allowed at once; each holds two netstacks")
	var captureMiB, qlogMiB int
	fs.IntVar(&captureMiB, "capture-mib", 4, "MiB of packets each link-mode page's capture keeps (the pcapng download; the latest packets when over)")
	fs.IntVar(&qlogMiB, "qlog-mib", 12, "MiB of qlog each link-mode page keeps, shared among its QUIC traces (each keeps its first events when over)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 60*time.Second, "close transport connections unused this long")
	fs.DurationVar(&cfg.LossTimeout, "loss-timeout", time.Second, "report a datagram lost when its echo takes longer")
	fs.DurationVar(&cfg.RelayIdleTimeout, "relay-idle-timeout", 5*time.Minute, "close a page's /relay connection from which nothing (no request, no pong to the server's pings) came this long")
	fs.StringVar(&cfg.InstructorToken, "instructor-token", "", "workshop rooms: the token that lets an instructor create a room (POST /api/rooms, wireplay room create); empty: rooms are off")
	fs.DurationVar(&cfg.RoomGrace, "room-grace", 10*time.Minute, "workshop rooms: how long a room outlives its last member (and a member's name stays theirs)")
	fs.IntVar(&cfg.MaxRoomPerIP, "max-room-per-ip", 64, "workshop rooms: room and room-chat sockets one client address may hold together (a class behind one NAT needs more)")
	fs.StringVar(&brokerURL, "broker", "", "workshop rooms and chat: share them with other wireplay servers through this NATS server (nats://HOST:4222); default: in-process")
	fs.BoolVar(&verbose, "v", false, "log debug messages")
	fs.StringVar(&logFormat, "log-format", "text", "log as text or json (one JSON object per line, slog's)")
	help := func(w io.Writer) {
		withOutput(fs, w, func() {
			fmt.Fprintf(w, "Usage: wireplay serve [flags]\n\nRuns the TCP, UDP, QUIC, WebSocket and ZeroMQ endpoints, the http lesson's raw-socket web server, the rooms' chat over TCP lines and the page.\n\nEvery flag can also be given as an environment variable: WIREPLAY_ and the flag's\nname in capitals with _ for - (WIREPLAY_HTTP_ADDR=0.0.0.0:8080); a flag on the command\nline wins. A repeatable flag takes a comma-separated list.\n\nFlags:\n")
			fs.PrintDefaults()
		})
	}
	if code, ok := parseFlags(fs, args, help, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wireplay serve: unexpected argument %q (wireplay help serve)\n", fs.Arg(0))
		return 2
	}
	if err := envFlags(fs, os.LookupEnv); err != nil {
		fmt.Fprintf(stderr, "wireplay serve: %v\n", err)
		return 2
	}
	if cfg.RoomGrace <= 0 {
		fmt.Fprintf(stderr, "wireplay serve: --room-grace %v: must be more than 0\n", cfg.RoomGrace)
		return 2
	}
	if brokerURL != "" && !strings.HasPrefix(brokerURL, "nats://") && !strings.HasPrefix(brokerURL, "tls://") {
		fmt.Fprintf(stderr, "wireplay serve: --broker %s: want nats://HOST:PORT\n", brokerURL)
		return 2
	}
	for _, f := range []struct {
		name string
		mib  int
		to   *int
	}{{"capture-mib", captureMiB, &cfg.CaptureBytes}, {"qlog-mib", qlogMiB, &cfg.QLogBytes}} {
		if f.mib < 1 || f.mib > 4096 {
			fmt.Fprintf(stderr, "wireplay serve: --%s %d: must be 1..4096\n", f.name, f.mib)
			return 2
		}
		*f.to = f.mib << 20
	}
	if cfg.RelayIdleTimeout <= 0 {
		fmt.Fprintf(stderr, "wireplay serve: --relay-idle-timeout %v: must be more than 0\n", cfg.RelayIdleTimeout)
		return 2
	}
	cfg.AllowOrigins = origins
	cfg.AllowHosts = hosts
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	switch logFormat {
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	default:
		fmt.Fprintf(stderr, "wireplay serve: --log-format %s: want text or json\n", logFormat)
		return 2
	}

	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "wireplay serve: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if brokerURL != "" {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b, err := natsbroker.Dial(dctx, brokerURL)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "wireplay serve: --broker %s: %v\n", brokerURL, err)
			return 1
		}
		defer b.Close() // after the server's shutdown
		cfg.Broker = b
	}
	s := server.New(cfg)
	if err := s.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "wireplay serve: %v\n", err)
		return 1
	}
	a := s.Addrs()
	web, ws := "http", "ws"
	if s.TLS() {
		web, ws = "https", "wss"
	}
	// One line per endpoint, by port: "  NAME  ADDRESS (what it is)".
	line := func(name, addr, what string) {
		if what != "" {
			what = " (" + what + ")"
		}
		fmt.Fprintf(stdout, "  %-12s%s%s\n", name, addr, what)
	}
	fmt.Fprintln(stdout, "wireplay serving")
	line("page", web+"://"+a.HTTP+"/", "")
	line("websocket", ws+"://"+a.HTTP+"/ws/echo", "")
	line("tcp", a.TCP, "")
	line("udp", a.UDP, "")
	line("quic", a.QUIC, "ALPN wireplay")
	if a.ZMQ != "" {
		line("zmq rep", "tcp://"+a.ZMQ, "ZeroMQ REQ/REP echo")
	}
	if a.ZMQPub != "" {
		line("zmq pub", "tcp://"+a.ZMQPub, "ZeroMQ PUB: topics "+strings.Join(zeromq.DefaultTopics, ", "))
	}
	if a.HTTPLesson != "" {
		line("http-lesson", "http://"+a.HTTPLesson+"/", "HTTP/1.x on raw sockets: curl -v")
	}
	if a.ChatTCP != "" {
		line("chat-tcp", a.ChatTCP, "a room's chat as text lines: nc")
	}
	if a.Unix != "" {
		line("unix", a.Unix, "stream")
	}
	if cfg.InstructorToken != "" {
		line("rooms", web+"://"+a.HTTP+"/api/rooms", "wireplay room create --server "+web+"://"+a.HTTP+" --token …")
	}
	<-ctx.Done()
	stop()
	fmt.Fprintln(stdout, "wireplay: shutting down")
	// Whatever clients do, the process exits within shutdownTimeout: Shutdown's own steps are
	// bounded (server.CloseGrace for the pages, server.DrainTimeout for other requests) and it
	// gives up waiting at the deadline.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(sctx) }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(stderr, "wireplay serve: shutdown: %v\n", err)
		}
	case <-sctx.Done(): // a step that ignores its deadline does not keep the process
		cfg.Logger.Warn("shutdown: gave up waiting", "after", shutdownTimeout)
	}
	return 0
}

// shutdownTimeout bounds `wireplay serve`'s shutdown after SIGTERM or SIGINT.
const shutdownTimeout = 3 * time.Second

// probeFlags are `wireplay probe`'s flags.
type probeFlags struct {
	fs        *flag.FlagSet
	o         probe.Options
	transport string
	timeout   time.Duration
	useLink   bool
	link      *linkspec.Flags
	pcap      string
}

func newProbeFlags() *probeFlags {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	p := &probeFlags{fs: fs}
	o := &p.o
	fs.StringVar(&p.transport, "transport", "tcp", "tcp, udp, quic-stream, quic-dgram, ws, or unix (a Unix stream socket: --addr is its path, wireplay serve --unix-path)")
	fs.StringVar(&o.Addr, "addr", "", "endpoint address host:port (default: wireplay serve's default for the transport); for ws the HTTP address or a ws:// URL; for unix the socket's path (no default)")
	fs.IntVar(&o.Count, "count", 10, "messages to send")
	fs.IntVar(&o.Size, "size", 64, "bytes per message")
	fs.DurationVar(&o.Interval, "interval", 0, "pace the sends: message i goes i×interval after the first, whether or not earlier ones were echoed (at most --window awaiting their echo), so --interval 100us --count 50 is a burst; 0 sends each message once the previous one was echoed or lost")
	fs.IntVar(&o.Window, "window", probe.DefaultWindow, "with --interval: messages awaiting their echo at most; a send waits while this many are")
	fs.DurationVar(&o.LossTimeout, "loss-timeout", time.Second, "a datagram whose echo takes longer is lost")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per line")
	fs.DurationVar(&p.timeout, "timeout", time.Minute, "give up after this long: print the summary so far, say it timed out and exit 1")
	fs.BoolVar(&p.useLink, "link", false, "run both ends in this process across an emulated link (wireplay's echo endpoints on its server host); --addr is ignored")
	p.link = linkspec.AddFlags(fs, "with --link: the preset to start from (default clean)",
		"with --link: seed of the link's random choices (same seed, same drops)")
	fs.StringVar(&p.pcap, "pcap", "", "with --link: write a pcapng capture of the run to this file")
	fs.StringVar(&o.QLogDir, "qlog", "", "write a qlog (.sqlog) of each QUIC connection to this directory (with --link, client and server)")
	return p
}

func (p *probeFlags) help(w io.Writer) {
	withOutput(p.fs, w, func() {
		fmt.Fprintf(w, `Usage: wireplay probe --transport T [--addr A] [--count N] [--size S] [--interval D [--window W]] [--json]
       wireplay probe --link [--preset P] [--loss PCT] [--delay D] [--jitter D] [--reorder] [--duplicate PCT]
                      [--burst P,R,BAD[,GOOD]] [--rate KBPS] [--queue N] [--seed S] [--pcap FILE] [--qlog DIR] --transport T ...

Sends numbered messages to a wireplay endpoint and prints each RTT and a summary.

By default each message is sent once the previous one was echoed (or lost): one in flight. With
--interval D the sends are paced instead: message i is sent i×D after the first, echoed or not,
with at most --window awaiting their echo, so a short interval makes a burst (and, with --rate
and --queue, a queue overflow). Each message's line gives when it was sent (JSON "sent_us").

With --link, no server is needed: the echo endpoints and the probe run in this process, on the two
hosts of an emulated, impaired link (gVisor netstack). The link flags (--loss, --delay, --jitter,
--reorder, --duplicate, --rate, --queue, --queue-bytes, --mtu, --blackhole, --burst) apply to
BOTH directions, each replacing its field of --preset and keeping the others (as in wireplay run).
--jitter is delay variation; packets keep their order unless --reorder is given. --burst is
Gilbert–Elliott bursty loss. The summary adds the link's packet counts per direction (sent,
delivered, dropped by rule, duplicated) and the stack's own: TCP retransmissions (TCP_INFO) and
QUIC packets lost (quic-go).

A probe still running at --timeout prints the summary so far, says it timed out and exits 1.

Flags:
`)
		p.fs.PrintDefaults()
	})
}

// options checks the flags and returns the probe's options, or the usage error.
func (p *probeFlags) options() (probe.Options, error) {
	o := p.o
	o.Transport = protocol.Transport(p.transport)
	if fs := p.fs; fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if p.timeout <= 0 {
		return o, fmt.Errorf("--timeout %v: must be more than 0", p.timeout)
	}
	if o.LossTimeout <= 0 {
		return o, fmt.Errorf("--loss-timeout %v: must be more than 0", o.LossTimeout)
	}
	if o.Window < 1 {
		return o, fmt.Errorf("--window %d: must be at least 1", o.Window)
	}
	if p.useLink {
		spec, err := p.link.Spec("")
		if err != nil {
			return o, err
		}
		o.Link = &probe.LinkOptions{Spec: spec, Pcap: p.pcap}
	} else {
		linkOnly := p.link.Given()
		if p.pcap != "" {
			linkOnly = append(linkOnly, "--pcap")
		}
		if len(linkOnly) > 0 {
			return o, fmt.Errorf("%s need --link", strings.Join(linkOnly, ", "))
		}
	}
	if o.Addr == "" {
		o.Addr = map[protocol.Transport]string{
			protocol.TCP: "127.0.0.1:7001", protocol.UDP: "127.0.0.1:7002",
			protocol.QUICStream: "127.0.0.1:7003", protocol.QUICDgram: "127.0.0.1:7003",
			protocol.WS: "127.0.0.1:8080",
		}[o.Transport]
	}
	return o, o.Validate()
}

func probeCmd(args []string, stdout, stderr io.Writer) int {
	p := newProbeFlags()
	if code, ok := parseFlags(p.fs, args, p.help, stdout, stderr); !ok {
		return code
	}
	o, err := p.options()
	if err != nil {
		fmt.Fprintf(stderr, "wireplay probe: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	sum, err := probe.Run(ctx, o, stdout)
	switch {
	case sum.TimedOut:
		fmt.Fprintf(stderr, "wireplay probe: timed out after %v (--timeout): %d of %d messages sent, %d echoed, %d lost\n",
			p.timeout, sum.Sent, o.Count, sum.Received, sum.Lost)
		return 1
	case sum.Interrupted:
		fmt.Fprintf(stderr, "wireplay probe: interrupted: %d of %d messages sent, %d echoed, %d lost\n", sum.Sent, o.Count, sum.Received, sum.Lost)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "wireplay probe: %v\n", err)
		return 1
	}
	return 0
}

// progress is where a long command says how far it got: stderr when it is a terminal, else
// nowhere (so a redirected or piped run's output is only its results).
func progress(stderr io.Writer) io.Writer {
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return stderr
		}
	}
	return io.Discard
}
