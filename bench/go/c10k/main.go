// Command c10k is Go's side of `./gofer bench c10k` (bench/c10k/run.sh): the static and
// template routes of gofer's c10k demo (chapters/ch06_c10k/02_c10k.cpp) with net/http and
// html/template — standard library only (Go has no MariaDB driver in it, so no /dynamic).
//
//	GET /static/{name}    http.FileServer over a generated static/ dir (pages of ~80 KB)
//	GET /template/{name}  an 80 KB html/template, parsed once at start-up, executed per request
//	anything else         404
//
// The server is set up like gofer's: 10 s read-header timeout, 120 s idle, 1 MiB headers.
// GOMAXPROCS comes from the environment.
//
// Usage:
//
//	c10k [-addr 127.0.0.1:8080] [-pages 3]
//
// It prints "listening on <addr>" once bound, serves until SIGINT or SIGTERM, then shuts
// down gracefully (at most 5 s), removes its directory and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

const pageBytes = 80 * 1024

func filler(bytes int) string { // the demo's filler text, byte for byte
	const para = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor " +
		"incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam.</p>\n"
	var b strings.Builder
	for b.Len()+len(para) <= bytes {
		b.WriteString(para)
	}
	return b.String()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	pages := flag.Int("pages", 3, "static pages to generate")
	flag.Parse()

	dir, err := os.MkdirTemp("", "gofer-c10k-go-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "c10k:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	static := filepath.Join(dir, "static")
	os.Mkdir(static, 0o755)
	for i := 0; i < *pages; i++ {
		body := fmt.Sprintf("<!DOCTYPE html>\n<html><head><title>static page %d</title></head>\n<body>\n%s</body></html>\n",
			i, filler(pageBytes-200))
		os.WriteFile(filepath.Join(static, fmt.Sprintf("page-%d.html", i)), []byte(body), 0o644)
	}
	// Parsed once; html/template escapes {{.Title}} for HTML.
	tmpl := template.Must(template.New("page").Parse(
		"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{{.Title}}</title></head>\n" +
			"<body><h1>{{.Title}}</h1>\n<p>{{.Contents}}</p>\n" + filler(pageBytes) + "</body></html>\n"))

	mux := http.NewServeMux()
	files := http.StripPrefix("/static", http.FileServer(http.Dir(static)))
	mux.HandleFunc("/static/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("/template/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/template/")
		if r.Method != http.MethodGet || name == "" || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		tmpl.Execute(w, struct{ Title, Contents string }{"This is our URL: " + name, "This is our template's contents."})
	})
	mux.HandleFunc("/", http.NotFound)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "c10k:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s (GOMAXPROCS=%d)\n", ln.Addr(), runtime.GOMAXPROCS(0))

	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sigs:
	case err := <-done:
		fmt.Fprintln(os.Stderr, "c10k:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}
