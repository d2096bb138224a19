package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/wireplay/wireplay/loadtest"
)

// roomCmd is `wireplay room create`: it asks a running server for a workshop room (POST
// /api/rooms with the instructor token) and prints its code and links.
func roomCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("room", flag.ContinueOnError)
	fs.SetOutput(stderr)
	srv := fs.String("server", "http://127.0.0.1:8080", "the wireplay server (its page's URL)")
	token := fs.String("token", "", "the server's instructor token (default: $WIREPLAY_INSTRUCTOR_TOKEN)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	help := func(w io.Writer) {
		withOutput(fs, w, func() {
			fmt.Fprintf(w, "Usage: wireplay room create [flags]\n\nCreates a workshop room on a running wireplay server (started with --instructor-token)\nand prints its code, the participants' link and the instructor's link (keep that one:\nit carries the room's secret).\n\nFlags:\n")
			fs.PrintDefaults()
		})
	}
	if len(args) == 0 || isHelp(args[0]) {
		help(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "create" {
		fmt.Fprintf(stderr, "wireplay room: unknown subcommand %q (wireplay room create)\n", args[0])
		return 2
	}
	if code, ok := parseFlags(fs, args[1:], help, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wireplay room create: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *token == "" {
		*token = os.Getenv("WIREPLAY_INSTRUCTOR_TOKEN")
	}
	if *token == "" {
		fmt.Fprintln(stderr, "wireplay room create: --token (or WIREPLAY_INSTRUCTOR_TOKEN) is needed: the server's --instructor-token")
		return 2
	}
	base := strings.TrimSuffix(*srv, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	created, err := loadtest.CreateRoom(ctx, base, *token)
	if err != nil {
		fmt.Fprintf(stderr, "wireplay room create: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "room %s\n  participants  %s%s\n  instructor    %s%s\n", created.Code, base, created.URL, base, created.InstructorURL)
	return 0
}
