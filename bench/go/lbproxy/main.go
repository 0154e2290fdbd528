// Command lbproxy is Go's side of the load-balancer benchmark (bench/lb/run.sh): a reverse
// proxy built on net/http/httputil.ReverseProxy that sends each request to the next back end,
// round robin — what gofer's loadbalancer demo (chapters/ch10_advanced) does with
// --policy round-robin, minus the health checks (every back end is up during a benchmark).
//
// Standard library only; it builds offline with Debian's golang-go. The Transport keeps up to
// 64 idle connections per back end, like gofer's balancer, and the server has gofer's
// default timeouts (10 s to read a header, 120 s idle).
//
// Usage:
//
//	lbproxy -addr 127.0.0.1:0 -backend http://127.0.0.1:9001 -backend http://127.0.0.1:9002
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
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type backends []*url.URL

func (b *backends) String() string { return fmt.Sprint(*b) }
func (b *backends) Set(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("bad back end %q (want http://host:port)", s)
	}
	*b = append(*b, u)
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	var bes backends
	flag.Var(&bes, "backend", "a back end, http://host:port (repeat the flag)")
	flag.Parse()
	if len(bes) == 0 {
		fmt.Fprintln(os.Stderr, "lbproxy: at least one -backend is needed")
		os.Exit(2)
	}

	var next atomic.Uint64
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 64 * len(bes)
	transport.MaxIdleConnsPerHost = 64
	proxy := &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			be := bes[(next.Add(1)-1)%uint64(len(bes))]
			r.URL.Scheme = be.Scheme
			r.URL.Host = be.Host
			if _, ok := r.Header["User-Agent"]; !ok {
				r.Header.Set("User-Agent", "")
			}
		},
		Transport: transport,
	}
	srv := &http.Server{
		Handler:           proxy,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lbproxy:", err)
		os.Exit(1)
	}
	names := make([]string, len(bes))
	for i, b := range bes {
		names[i] = b.Host
	}
	fmt.Printf("listening on %s (GOMAXPROCS=%d) -> %s\n", ln.Addr(), runtime.GOMAXPROCS(0), strings.Join(names, ", "))

	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sigs:
	case err := <-done:
		fmt.Fprintln(os.Stderr, "lbproxy:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "lbproxy: shutdown:", err)
		os.Exit(1)
	}
}
