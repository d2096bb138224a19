// Package web holds the page's static files — the stylesheet, the Go-WebAssembly client
// (main.wasm, built by `go tool task wasm`) and Go's wasm_exec.js loader — embedded in the binary,
// with the brotli and gzip copies of each (NAME.br, NAME.gz) that the same task writes beside them
// and the server sends in their place.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Static is the static file tree, rooted so that "style.css" is at the top.
var Static fs.FS = mustSub(static, "static")

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}
