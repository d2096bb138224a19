package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// The two-process echo: what a user of `wireplay serve` sees. The server is `wireplay serve`'s
// own server (server.Server, every endpoint and the page running), the reference a minimal echo
// on the library's bare API (for QUIC, quic.ListenAddr and io.Copy), each in a process of its own;
// the client, in a third, ping-pongs 64-byte messages with both, one message to each in turn. All
// three are pinned to one core (Linux), so each round trip is two process wake-ups on that core
// and not a race between cores.

// ChildEnv, when set in a process's environment, makes RunChild serve (or measure) instead of
// returning: "server wireplay TRANSPORT", "server minimal TRANSPORT" or "client TRANSPORT
// ROUNDS COUNT ADDR_WIREPLAY ADDR_MINIMAL".
const ChildEnv = "WIREPLAY_BENCH_CHILD"

// Two-process echo defaults: rounds of pings per server, each round one figure; the figure
// reported is the median round's ratio.
const (
	ProcessRounds = 9
	ProcessCount  = 1000
)

// RunChild runs this process as a two-process benchmark's server or client when ChildEnv says so,
// and then exits; otherwise it returns at once. The wireplay command and the bench package's
// tests call it first thing.
func RunChild() {
	spec := os.Getenv(ChildEnv)
	if spec == "" {
		return
	}
	if err := runChild(strings.Fields(spec)); err != nil {
		fmt.Fprintf(os.Stderr, "bench child %q: %v\n", spec, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild(f []string) error {
	switch {
	case len(f) == 3 && f[0] == "server":
		return serveChild(f[1], protocol.Transport(f[2]))
	case len(f) == 6 && f[0] == "client":
		var rounds, count int
		if _, err := fmt.Sscan(f[2], &rounds); err != nil {
			return err
		}
		if _, err := fmt.Sscan(f[3], &count); err != nil {
			return err
		}
		res, err := pingPong(protocol.Transport(f[1]), rounds, count, f[4], f[5])
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	return fmt.Errorf("want %q", "server IMPL TRANSPORT | client TRANSPORT ROUNDS COUNT A B")
}

// serveChild serves impl's echo for t, prints its address on a line, and serves until stdin closes.
func serveChild(impl string, t protocol.Transport) error {
	var addr string
	var stop func()
	switch impl {
	case "wireplay":
		s, err := startServer()
		if err != nil {
			return err
		}
		stop = func() { stopServer(s) }
		a := s.Addrs()
		addr = map[protocol.Transport]string{protocol.TCP: a.TCP, protocol.UDP: a.UDP, protocol.QUICStream: a.QUIC,
			protocol.QUICDgram: a.QUIC, protocol.WS: "ws://" + a.HTTP + "/ws/echo"}[t]
	case "minimal":
		s, err := startMinimalEcho(t)
		if err != nil {
			return err
		}
		stop, addr = s.close, s.addr
	default:
		return fmt.Errorf("unknown server %q", impl)
	}
	defer stop()
	fmt.Println(addr)
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// startMinimalEcho is startRawEcho, but QUIC on quic-go's bare API: what a minimal quic-go echo
// server is, with no wireplay code between the socket and io.Copy.
func startMinimalEcho(t protocol.Transport) (*echoServer, error) {
	if t != protocol.QUICStream && t != protocol.QUICDgram {
		return startRawEcho(t)
	}
	tc, err := transports.ServerTLSConfig("", "")
	if err != nil {
		return nil, err
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", tc, &quic.Config{EnableDatagrams: true})
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			go func() {
				for {
					d, err := c.ReceiveDatagram(context.Background())
					if err != nil {
						return
					}
					c.SendDatagram(d)
				}
			}()
			go func() {
				for {
					st, err := c.AcceptStream(context.Background())
					if err != nil {
						return
					}
					go func() { io.Copy(st, st); st.Close() }()
				}
			}()
		}
	}()
	s := &echoServer{addr: ln.Addr().String()}
	s.g.Add(ln.Close)
	return s, nil
}

// processResult is the client child's measurement: per round, the mean round trip with each
// server, in ns.
type processResult struct {
	Wireplay, Minimal []float64
}

// pingPong measures rounds × count round trips with each server, alternating message by message.
func pingPong(t protocol.Transport, rounds, count int, addrW, addrM string) (processResult, error) {
	var cs [2]*rawClient
	for i, a := range []string{addrW, addrM} {
		c, err := dialRaw(t, &echoServer{addr: a})
		if err != nil {
			return processResult{}, fmt.Errorf("dial %s: %w", a, err)
		}
		defer c.close()
		cs[i] = c
		for range 200 { // warm up
			c.rtt()
		}
	}
	var res processResult
	for range rounds {
		var spent [2]time.Duration
		for range count {
			for i, c := range cs {
				start := time.Now()
				if err := c.rtt(); err != nil && !isTimeout(err) {
					return res, err
				}
				spent[i] += time.Since(start)
			}
		}
		res.Wireplay = append(res.Wireplay, float64(spent[0].Nanoseconds())/float64(count))
		res.Minimal = append(res.Minimal, float64(spent[1].Nanoseconds())/float64(count))
	}
	return res, nil
}

// ProcessEcho runs the two-process echo for t: wireplay's server and a minimal one in processes
// of their own, the client in a third, all pinned to one core. It returns the median round's
// figures (ns per round trip) and every round's ratio.
func ProcessEcho(t protocol.Transport, rounds, count int) (Pair, []float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return Pair{}, nil, err
	}
	var p Pair
	var ratios []float64
	err = onOneCore(func() error {
		addrs := make([]string, 2)
		for i, impl := range []string{"wireplay", "minimal"} {
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), ChildEnv+"=server "+impl+" "+string(t))
			cmd.Stderr = os.Stderr
			in, err := cmd.StdinPipe()
			if err != nil {
				return err
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				return err
			}
			if err := cmd.Start(); err != nil {
				return err
			}
			defer cmd.Wait()
			defer in.Close() // the server's signal to stop
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				return fmt.Errorf("%s server: %w", impl, err)
			}
			addrs[i] = strings.TrimSpace(line)
		}
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=client %s %d %d %s %s", ChildEnv, t, rounds, count, addrs[0], addrs[1]))
		cmd.Stderr = os.Stderr
		b, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		var res processResult
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("client said %q: %w", b, err)
		}
		p, ratios = medianRound(t, res)
		return nil
	})
	return p, ratios, err
}

// medianRound is the round whose ratio is the median, and every round's ratio.
func medianRound(t protocol.Transport, res processResult) (Pair, []float64) {
	type round struct{ w, m, r float64 }
	var rs []round
	var ratios []float64
	for i := range res.Wireplay {
		if res.Minimal[i] > 0 {
			rs = append(rs, round{res.Wireplay[i], res.Minimal[i], res.Wireplay[i] / res.Minimal[i]})
			ratios = append(ratios, res.Wireplay[i]/res.Minimal[i])
		}
	}
	if len(rs) == 0 {
		return Pair{Transport: t}, nil
	}
	slices.SortFunc(rs, func(a, b round) int {
		switch {
		case a.r < b.r:
			return -1
		case a.r > b.r:
			return 1
		}
		return 0
	})
	mid := rs[len(rs)/2]
	return Pair{Transport: t, Wireplay: mid.w, Reference: mid.m}, ratios
}
