package link

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "link test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 1, 2)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestQUICAcrossLink runs a real quic-go handshake and stream over a lossy link and checks the
// log decodes its packets.
func TestQUICAcrossLink(t *testing.T) {
	l := newLink(t, Config{Seed: 9, Settings: Both(Impairment{Delay: 5 * time.Millisecond, Loss: 0.05})})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spc, err := l.Server().ListenPacket(ctx, "udp", net.JoinHostPort(l.ServerAddr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer spc.Close()
	st := &quic.Transport{Conn: spc}
	defer st.Close()
	ln, err := st.Listen(&tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: []string{"wp"}}, nil)
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
		buf := make([]byte, 5)
		if _, err := s.Read(buf); err == nil {
			_, _ = s.Write(buf)
		}
		<-ctx.Done()
	}()

	cpc, err := l.Client().ListenPacket(ctx, "udp", net.JoinHostPort(l.ClientAddr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer cpc.Close()
	ct := &quic.Transport{Conn: cpc}
	defer ct.Close()
	conn, err := ct.Dial(ctx, spc.LocalAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"wp"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := s.Read(buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo %q, %v", buf, err)
	}

	kinds := map[string]int{}
	var initialDCID []byte
	for _, p := range l.Packets() {
		if p.Decoded.Proto != "udp" {
			continue
		}
		kinds[p.Decoded.QUIC]++
		if p.Dir == ClientToServer && p.Decoded.QUIC == "Initial" && initialDCID == nil {
			initialDCID = p.Decoded.DCID
			if !strings.Contains(p.Summary(), "QUIC Initial dcid="+hex.EncodeToString(initialDCID)) {
				t.Errorf("summary %q", p.Summary())
			}
		}
	}
	t.Logf("QUIC packet kinds on the wire: %v", kinds)
	if kinds["Initial"] == 0 || kinds["Handshake"] == 0 || kinds["short header"] == 0 {
		t.Errorf("want Initial, Handshake and short-header packets, got %v", kinds)
	}
	if len(initialDCID) < 8 {
		t.Errorf("client Initial DCID %x: want ≥ 8 bytes", initialDCID)
	}
}

func TestDecodeQUICHeaders(t *testing.T) {
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	long := func(first byte, version uint32) []byte {
		b := []byte{first, byte(version >> 24), byte(version >> 16), byte(version >> 8), byte(version), byte(len(dcid))}
		b = append(b, dcid...)
		return append(b, 0, 0, 0, 0)
	}
	for _, c := range []struct {
		payload []byte
		want    string
	}{
		{long(0xc0, 1), "Initial"},
		{long(0xd0, 1), "0-RTT"},
		{long(0xe0, 1), "Handshake"},
		{long(0xf0, 1), "Retry"},
		{long(0xd0, 0x6b3343cf), "Initial"}, // QUIC v2 type bits differ
		{long(0x80, 0), "VersionNegotiation"},
		{long(0xc0, 0x12345678), ""}, // unknown version
		{append([]byte{0x40}, make([]byte, 30)...), "short header"},
		{[]byte{0x00, 1, 2}, ""},
	} {
		kind, id := quicHeader(c.payload)
		if kind != c.want {
			t.Errorf("quicHeader(% x) = %q, want %q", c.payload[:6], kind, c.want)
		}
		if c.want != "" && c.want != "short header" && string(id) != string(dcid) {
			t.Errorf("%s DCID %x, want %x", c.want, id, dcid)
		}
	}
	// Truncated and garbage input never panics.
	for i := range 60 {
		_ = decode(make([]byte, i))
		b := make([]byte, i)
		if i > 0 {
			b[0] = 0x45
		}
		_ = decode(b)
	}
}
