package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const healthcheckUsage = `Usage: wireplay healthcheck [flags] [URL]

Asks a running wireplay server whether it is alive: GET URL (default
$WIREPLAY_HEALTHCHECK_URL, else http://127.0.0.1:8080/healthz) and exit 0 when it answers
200, 1 otherwise. It is the container's health check (the image has no curl).

Flags:
`

// healthcheckCmd is `wireplay healthcheck`.
func healthcheckCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	insecure := fs.Bool("insecure", false, "do not verify the server's certificate (a check of https://127.0.0.1, whose certificate is for the public name)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	help := func(w io.Writer) {
		withOutput(fs, w, func() {
			fmt.Fprint(w, healthcheckUsage)
			fs.PrintDefaults()
		})
	}
	if code, ok := parseFlags(fs, args, help, stdout, stderr); !ok {
		return code
	}
	target := os.Getenv("WIREPLAY_HEALTHCHECK_URL")
	switch fs.NArg() {
	case 0:
	case 1:
		target = fs.Arg(0)
	default:
		fmt.Fprintf(stderr, "wireplay healthcheck: unexpected argument %q (wireplay help healthcheck)\n", fs.Arg(1))
		return 2
	}
	if target == "" {
		target = "http://127.0.0.1:8080/healthz"
	}
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "wireplay healthcheck: URL %q: want http:// or https://host:port/healthz\n", target)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "wireplay healthcheck: %v\n", err)
		return 2
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: *insecure}}}
	res, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "wireplay healthcheck: %v\n", err)
		return 1
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "wireplay healthcheck: %s: %s %s\n", target, res.Status, strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s\n", target, strings.TrimSpace(string(body)))
	return 0
}
