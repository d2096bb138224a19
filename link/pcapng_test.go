package link

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tshark finds tshark, or skips the test saying why (fails under CI=true, where it must be
// installed).
func tshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark not installed (CI=true: it must be)")
		}
		t.Skip("tshark not installed: skipping the check of the capture with tshark")
	}
	return p
}

// TestPcapngOneCapturePoint: a capture is stamped at the client host's NIC, so Wireshark's ACK
// RTT of the client's data is the link's round trip (both one-way latencies the link dealt), not
// one of them; both the log's export and the stream are in time order.
func TestPcapngOneCapturePoint(t *testing.T) {
	ts := tshark(t)
	oneWay := Impairment{Delay: 20 * time.Millisecond}
	l, err := New(Config{Seed: 1, Settings: Settings{ClientToServer: oneWay, ServerToClient: oneWay}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var stream bytes.Buffer
	stop, err := l.CapturePcapng(&stream)
	if err != nil {
		t.Fatal(err)
	}
	client, server := tcpPair(t, l)
	read := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(server, make([]byte, 20*3000))
		read <- err
	}()
	for range 20 {
		if _, err := client.Write(bytes.Repeat([]byte("x"), 3000)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // spread the writes over several round trips
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	closeAndSettle(t, client, server)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// The link's own round trip: the median latency it dealt each direction.
	var lat [2][]time.Duration
	for _, p := range l.Packets() {
		if p.Fate == Delivered {
			lat[p.Dir] = append(lat[p.Dir], p.Latency)
		}
	}
	median := func(v []time.Duration) time.Duration { slices.Sort(v); return v[len(v)/2] }
	rtt := median(lat[ClientToServer]) + median(lat[ServerToClient])

	var ring bytes.Buffer
	if err := l.WritePcapng(&ring); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, b := range map[string][]byte{"ring": ring.Bytes(), "stream": stream.Bytes()} {
		pk := readPcapng(t, b)
		if len(pk) != len(l.Packets()) {
			t.Errorf("%s: %d packets, the log %d", name, len(pk), len(l.Packets()))
		}
		for i := 1; i < len(pk); i++ {
			if pk[i].ts.Before(pk[i-1].ts) {
				t.Fatalf("%s: packet %d stamped %v before packet %d", name, i+1, pk[i-1].ts.Sub(pk[i].ts), i)
			}
		}
		file := filepath.Join(dir, name+".pcapng")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(ts, "-r", file, "-Y", "tcp.analysis.ack_rtt && ip.src == "+l.ServerAddr().String(),
			"-T", "fields", "-e", "tcp.analysis.ack_rtt").Output()
		if err != nil {
			t.Fatalf("tshark: %v\n%s", err, out)
		}
		var rtts []time.Duration
		for _, f := range strings.Fields(string(out)) {
			s, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatalf("tshark ack_rtt %q: %v", f, err)
			}
			rtts = append(rtts, time.Duration(s*float64(time.Second)))
		}
		if len(rtts) < 5 {
			t.Fatalf("%s: tshark found %d ACK RTTs, want at least 5:\n%s", name, len(rtts), out)
		}
		// The smallest is an ACK sent at once; others wait for netstack's delayed ACK.
		if got := slices.Min(rtts); got < rtt || got > rtt+3*time.Millisecond {
			t.Errorf("%s: smallest ACK RTT %v (of %d), want the link's round trip %v (+ at most 3 ms in the server's stack)", name, got, len(rtts), rtt)
		}
	}
}

// TestPcapngTruncated: a link that carries far more than its log's byte bound exports a capture
// no bigger than that bound (plus its header), holding the latest packets, that says in its
// section header it was truncated, and that tshark reads whole.
func TestPcapngTruncated(t *testing.T) {
	ts := tshark(t)
	const logBytes = 64 << 10
	l := newLink(t, Config{Seed: 1, LogBytes: logBytes})
	_, c := udpPair(t, l)
	const sent = 400 // 400 × 1 KiB: six times the bound
	for i := range sent {
		if _, err := c.Write(numbered(i, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every packet on the wire", func() bool { return l.Counts(ClientToServer).Sent >= sent })
	kept := len(l.Packets())
	if ev := l.LogEvicted(); kept == 0 || ev == 0 || int(ev)+kept < sent {
		t.Fatalf("log keeps %d packets and evicted %d, of %d sent", kept, ev, sent)
	}
	var b bytes.Buffer
	if err := l.WritePcapng(&b); err != nil {
		t.Fatal(err)
	}
	if b.Len() > logBytes+1024 {
		t.Fatalf("capture %d bytes, log bound %d", b.Len(), logBytes)
	}
	if pk := readPcapng(t, b.Bytes()); len(pk) != kept || numberOf(pk[len(pk)-1].data[28:]) != sent-1 {
		t.Fatalf("capture holds %d packets, the log %d, or not the latest", len(pk), kept)
	}
	file := filepath.Join(t.TempDir(), "truncated.pcapng")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ts, "-r", file, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	if n := bytes.Count(out, []byte("\n")); n != kept {
		t.Fatalf("tshark reads %d packets, want %d", n, kept)
	}
	capinfos, err := exec.LookPath("capinfos")
	if err != nil {
		t.Skip("capinfos not installed: the section comment is not checked")
	}
	out, err = exec.Command(capinfos, "-k", file).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(TruncatedComment)) {
		t.Fatalf("capinfos -k: %v, no %q comment:\n%s", err, TruncatedComment, out)
	}
}

// TestPcapngSizedOnce: WritePcapng into a bytes.Buffer sizes it once, near the capture's size,
// rather than doubling it as it fills (which allocates 2–4× the capture: the server's download
// writes into one).
func TestPcapngSizedOnce(t *testing.T) {
	l, err := New(Config{Seed: 1}) // closed below, before the capture is measured
	if err != nil {
		t.Fatal(err)
	}
	_, c := udpPair(t, l)
	const n = 2000
	for i := range n {
		if _, err := c.Write(numbered(i, 1+i%1200)); err != nil { // every size up to 1.2 KB
			t.Fatal(err)
		}
	}
	waitFor(t, "every packet on the wire", func() bool { return l.Counts(ClientToServer).Sent >= n })
	if err := l.Close(); err != nil { // nothing else allocates while the capture is measured
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	var b bytes.Buffer
	runtime.ReadMemStats(&before)
	if err := l.WritePcapng(&b); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := int(after.TotalAlloc - before.TotalAlloc)
	// Doubled as it filled, the buffer would end at 2 MiB (and 5 MB would be allocated).
	if b.Cap() > b.Len()+b.Len()/4 {
		t.Errorf("a %d-byte capture: buffer of %d bytes, %d bytes allocated", b.Len(), b.Cap(), alloc)
	}
	t.Logf("a %d-byte capture of %d packets: buffer of %d bytes, %d bytes allocated", b.Len(), n, b.Cap(), alloc)
}
