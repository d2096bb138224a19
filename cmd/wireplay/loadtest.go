package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"time"

	"github.com/wireplay/wireplay/loadtest"
	"github.com/wireplay/wireplay/server"
)

// loadtestCmd is `wireplay loadtest`: simulated participants in workshop rooms, measured against
// issue 10's goals (package loadtest).
func loadtestCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var servers listFlag
	fs.Var(&servers, "server", "a running wireplay server (http://HOST:PORT) started with --instructor-token; repeat it for instances sharing one --broker: participants are spread over them")
	self := fs.Bool("self", false, "start a server in this process on loopback ephemeral ports instead (memory is then this process's heap, clients included: no memory goal)")
	token := fs.String("token", "", "the server's instructor token (default: $WIREPLAY_INSTRUCTOR_TOKEN)")
	nrooms := fs.Int("rooms", 1, "rooms")
	participants := fs.Int("participants", 1000, "participants per room")
	lesson := fs.String("lesson", "boundaries", "the lesson each room's instructor runs")
	chat := fs.Int("chat", 10, "chat messages each room's instructor sends (at the chat's rate limit)")
	churn := fs.Int("churn", 1500, "times a member joins the first room and leaves at the end (the load that fills the non-reader's queues)")
	settle := fs.Duration("settle", 0, "idle this long after the joins before reading the server's memory again (its garbage from the joins is collected within 2m)")
	gcWait := fs.Duration("gc-wait", 130*time.Second, "wait this long at most, the participants idle, for the server's next GC: the held-memory figure (live heap + stacks) is read after it; 0 reads it as of the last GC during the joins")
	concurrency := fs.Int("concurrency", 32, "participants joining at once")
	timeout := fs.Duration("timeout", time.Minute, "give up any one wait for the server after this long")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	help := func(w io.Writer) {
		withOutput(fs, w, func() {
			fmt.Fprintf(w, "Usage: wireplay loadtest (--server URL ... --token T | --self) [flags]\n\nLoads workshop rooms with simulated participants (real WebSockets on loopback, each from its own\n127.1.x.y source address: Linux), with one chat flooder and one member that never reads, runs a\nlesson and chat, and prints the fan-out latencies, losses, the flooder's and the non-reader's\nfate and the server's memory per idle participant beside issue 10's goals. Exits 1 when one\nmisses.\n\nFlags:\n")
			fs.PrintDefaults()
		})
	}
	if code, ok := parseFlags(fs, args, help, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wireplay loadtest: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *self == (len(servers) > 0) {
		fmt.Fprintln(stderr, "wireplay loadtest: give --server URL (with --token) or --self")
		return 2
	}
	if *nrooms < 1 || *participants < 1 || *chat < 1 || *concurrency < 1 {
		fmt.Fprintln(stderr, "wireplay loadtest: --rooms, --participants, --chat and --concurrency must be at least 1")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := loadtest.Config{Servers: servers, Token: *token, Rooms: *nrooms, Participants: *participants, Lesson: *lesson,
		Chat: *chat, Churn: *churn, Settle: *settle, Concurrency: *concurrency, Timeout: *timeout, GCWait: *gcWait, Progress: stderr}
	if cfg.GCWait == 0 {
		cfg.GCWait = -1
	}
	if *self {
		var b [16]byte
		_, _ = rand.Read(b[:])
		cfg.Token = hex.EncodeToString(b[:])
		s := server.New(server.Config{HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", QUICAddr: "127.0.0.1:0",
			InstructorToken: cfg.Token, Logger: slog.New(slog.DiscardHandler)})
		if err := s.Start(ctx); err != nil {
			fmt.Fprintf(stderr, "wireplay loadtest: start server: %v\n", err)
			return 1
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			_ = s.Shutdown(sctx)
		}()
		cfg.Servers = []string{"http://" + s.Addrs().HTTP}
		cfg.Heap = heapInUse
	}
	if cfg.Token == "" {
		cfg.Token = os.Getenv("WIREPLAY_INSTRUCTOR_TOKEN")
	}
	if cfg.Token == "" {
		fmt.Fprintln(stderr, "wireplay loadtest: --token (or WIREPLAY_INSTRUCTOR_TOKEN) is needed: the server's --instructor-token")
		return 2
	}
	res, err := loadtest.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "wireplay loadtest: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "wireplay loadtest: %v\n", err)
			return 1
		}
	} else {
		res.Print(stdout)
	}
	if missed := res.Missed(); len(missed) > 0 {
		fmt.Fprintf(stderr, "wireplay loadtest: %d %s: %s\n", len(missed), plural(len(missed), "goal missed", "goals missed"), strings.Join(missed, "; "))
		return 1
	}
	return 0
}

// heapInUse is this process's heap objects and goroutine stacks, after a collection.
func heapInUse() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}
