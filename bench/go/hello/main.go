// Command hello is Go's side of the C10K benchmark (bench/http/run.sh): a net/http server
// that answers every GET with "hello\n", the same thing gofer's hello-server demo
// (chapters/ch06_c10k/01_hello-server.cpp) serves.
//
// Standard library only; it builds offline with Debian's golang-go. The server is set up
// like gofer's http::server defaults so that both do the same work per request:
// a 10 s read-header timeout and a 120 s idle timeout (keep-alive on), 1 MiB header limit.
// GOMAXPROCS comes from the environment, as usual.
//
// Usage:
//
//	hello [-addr 127.0.0.1:8080]
//
// It prints "listening on <addr>" once the socket is bound, serves until SIGINT or SIGTERM,
// then shuts down gracefully (at most 5 s) and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	flag.Parse()

	mux := http.NewServeMux()
	// Like the gofer demo's "GET /" pattern: every path, GET and HEAD only.
	hello := []byte("hello\n")
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(hello)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s (GOMAXPROCS=%d)\n", ln.Addr(), runtime.GOMAXPROCS(0))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		close(done)
	}()

	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	<-done
	fmt.Println("shut down")
}
