// Command precompress writes a gzip and a brotli copy beside each file it is given (NAME.gz and
// NAME.br), each at its format's highest compression level, so that the server (package server)
// sends the page's static files compressed without compressing them per request. The Taskfile's
// wasm task runs it on web/static's main.wasm, wasm_exec.js and style.css:
//
//	go run ./internal/precompress web/static/main.wasm web/static/wasm_exec.js web/static/style.css
//
// The copies hold no file name or time, so the same input gives the same bytes. Each is written
// to a temporary file and renamed into place, so a reader never sees half of one.
package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/andybalholm/brotli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: precompress FILE...")
		os.Exit(2)
	}
	for _, p := range os.Args[1:] {
		if err := compressFile(p); err != nil {
			fmt.Fprintln(os.Stderr, "precompress:", err)
			os.Exit(1)
		}
	}
}

// compressFile writes path.gz and path.br.
func compressFile(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read file: %w", err)
	}
	if err := writeAtomic(path+".gz", src, func(w io.Writer) (io.WriteCloser, error) {
		return gzip.NewWriterLevel(w, gzip.BestCompression)
	}); err != nil {
		return err
	}
	return writeAtomic(path+".br", src, func(w io.Writer) (io.WriteCloser, error) {
		return brotli.NewWriterOptions(w, brotli.WriterOptions{Quality: brotli.BestCompression, LGWin: 24}), nil
	})
}

// writeAtomic compresses src with the writer newW makes into a temporary file beside dst and
// renames it to dst.
func writeAtomic(dst string, src []byte, newW func(io.Writer) (io.WriteCloser, error)) error {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename there is nothing left to remove
	zw, err := newW(f)
	if err == nil {
		_, err = zw.Write(src)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err != nil {
		return fmt.Errorf("compress %s: %w", filepath.Base(dst), err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("rename file: %w", err)
	}
	return nil
}
