package transports_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/transports"
)

// TestQUICKeyLogDecryptsCapture: QUIC endpoints on a link write their TLS secrets to the link's
// key log, the pcapng carries them in a Decryption Secrets Block, and tshark decrypts the
// connection's STREAM frames from the file alone; with that block cut out it decrypts none.
func TestQUICKeyLogDecryptsCapture(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark not installed (CI=true: it must be)")
		}
		t.Skip("tshark not installed: skipping the check that tshark decrypts the capture")
	}
	l, err := link.New(link.Config{Seed: 1, Settings: link.Both(link.Impairment{Delay: 2 * time.Millisecond})})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var live bytes.Buffer // the stream writes each key log line as it comes, before the packets after it
	stop, err := l.CapturePcapng(&live)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srvTLS, err := transports.ServerTLSConfig("", "")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transports.ListenQUIC(ctx, l.Server(), net.JoinHostPort(l.ServerAddr().String(), "0"), transports.QUICOptions{TLS: srvTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		s, err := c.AcceptStream(ctx)
		if err != nil {
			return
		}
		io.Copy(s, s)
		s.Close()
	}()
	c, err := transports.DialQUIC(ctx, l.Client(), ln.Addr().String(), transports.QUICOptions{TLS: transports.ClientTLSConfig(srvTLS)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("a secret the capture can read")
	if _, err := s.Write(msg); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo %q, %v", got, err)
	}
	c.Close()
	ln.Close()

	var capture bytes.Buffer
	if err := l.WritePcapng(&capture); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stream := func(name string, b []byte) []string {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(tshark, "-r", file, "-Y", "quic.stream_data", "-T", "fields", "-e", "quic.stream_data").Output()
		if err != nil {
			t.Fatalf("tshark: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	with, without := stream("with.pcapng", capture.Bytes()), stream("without.pcapng", cutSecrets(t, capture.Bytes()))
	if len(with) == 0 {
		t.Fatal("tshark decrypted no STREAM frame with the key log embedded")
	}
	hexMsg := hex.EncodeToString(msg)
	if !strings.Contains(strings.Join(with, " "), hexMsg) {
		t.Errorf("tshark's STREAM data %v does not hold the message %s", with, hexMsg)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := stream("live.pcapng", live.Bytes()); strings.Join(got, " ") != strings.Join(with, " ") {
		t.Errorf("the streamed capture decrypts %v, the exported log %v", got, with)
	}
	if len(without) != 0 {
		t.Errorf("tshark decrypted %d STREAM frames with the key log cut out", len(without))
	}
}

// cutSecrets is a pcapng without its Decryption Secrets Blocks.
func cutSecrets(t *testing.T, b []byte) []byte {
	t.Helper()
	var out []byte
	found := false
	for len(b) >= 12 {
		typ, total := binary.LittleEndian.Uint32(b), int(binary.LittleEndian.Uint32(b[4:]))
		if total < 12 || total > len(b) {
			t.Fatalf("pcapng: bad block length %d", total)
		}
		if typ == 0x0000000A {
			found = true
		} else {
			out = append(out, b[:total]...)
		}
		b = b[total:]
	}
	if !found {
		t.Fatal("the capture has no Decryption Secrets Block")
	}
	return out
}
