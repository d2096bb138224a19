package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// TestCompressFile: the .gz and .br copies decode to the file, are smaller, are the same bytes
// when made again, and no temporary file is left behind.
func TestCompressFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "main.wasm")
	src := []byte(strings.Repeat("wireplay sends one message five ways. ", 4000))
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	read := func() (gz, br []byte) {
		t.Helper()
		gz, err1 := os.ReadFile(p + ".gz")
		br, err2 := os.ReadFile(p + ".br")
		if err1 != nil || err2 != nil {
			t.Fatalf("copies: %v %v", err1, err2)
		}
		return gz, br
	}
	if err := compressFile(p); err != nil {
		t.Fatal(err)
	}
	gz, br := read()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]io.Reader{"gzip": zr, "brotli": brotli.NewReader(bytes.NewReader(br))} {
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, src) {
			t.Errorf("%s copy does not decode to the file (%v)", name, err)
		}
	}
	if len(br) >= len(src) || len(gz) >= len(src) {
		t.Errorf("copies of %d bytes: gzip %d, brotli %d", len(src), len(gz), len(br))
	}
	if err := compressFile(p); err != nil {
		t.Fatal(err)
	}
	if gz2, br2 := read(); !bytes.Equal(gz, gz2) || !bytes.Equal(br, br2) {
		t.Error("compressing the same file again gave other bytes")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("directory holds %d files, want main.wasm and its two copies", len(entries))
	}
}
