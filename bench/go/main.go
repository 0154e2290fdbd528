// Command go is the Go side of gofer's benchmarks: the scenarios of bench/chan_bench.cpp
// and bench/select_bench.cpp, written in Go, to compare gofer with the runtime it imitates.
//
// It is a plain program (standard library only, works offline): each scenario runs under
// testing.Benchmark at every requested GOMAXPROCS, and one line per result is printed as
// TSV:
//
//	name<TAB>procs<TAB>ns_per_op
//
// A name is the gofer benchmark's name without "BM_" and without "/threads:N" (procs is
// that N): chan_ping_pong_unbuffered here is BM_chan_ping_pong_unbuffered/threads:N there.
// With -count > 1, each scenario's repetitions are followed by a line for their median,
// named like Google Benchmark's aggregates: chan_spsc_buffered_median.
//
// Usage (from bench/go):
//
//	go run . [-benchtime 500ms] [-count 1] [-procs 1,2] [-filter regexp] [-short]
//
// -short runs every scenario for a moment (CTest's bench-smoke); the numbers mean nothing.
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	spscCapacity  = 1024 // chan_bench.cpp's kCapacity
	fanInCapacity = 64   // select_bench.cpp's kFanInCapacity
	contenders    = 4    // select_bench.cpp's kContenders
)

// quota is share k of total items split over parts workers (the first take the remainder).
func quota(total, parts, k int) int {
	q := total / parts
	if k < total%parts {
		q++
	}
	return q
}

// ---- channels (chan_bench.cpp) ----------------------------------------------------------

// One op = one round trip over two unbuffered channels.
func pingPongUnbuffered(b *testing.B) {
	ping, pong := make(chan int), make(chan int)
	done := make(chan struct{})
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(done)
	}()
	x := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ping <- x
		x = <-pong
	}
	b.StopTimer()
	close(ping)
	<-done
}

// One op = one item through a channel of capacity 1024, one producer, one consumer.
func spscBuffered(b *testing.B) {
	c := make(chan int, spscCapacity)
	done := make(chan int64)
	go func() {
		var sum int64
		for v := range c {
			sum += int64(v)
		}
		done <- sum
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c <- i
	}
	close(c)
	b.StopTimer()
	<-done
}

// ---- select fan-in (select_bench.cpp) ---------------------------------------------------

// fanIn starts one producer per channel with quotas adding up to b.N; recv must receive one
// item by selecting over all channels. One op = one item received. Channels are never
// closed: a finished producer's channel stays silent, as in select_bench.cpp.
func fanIn(b *testing.B, cs []chan int, recv func() int) {
	var wg sync.WaitGroup
	wg.Add(len(cs))
	for k, c := range cs {
		go func(c chan int, n int) {
			for i := 0; i < n; i++ {
				c <- i
			}
			wg.Done()
		}(c, quota(b.N, len(cs), k))
	}
	sum := 0
	for i := 0; i < b.N; i++ {
		sum += recv()
	}
	b.StopTimer()
	wg.Wait()
	_ = sum
}

func makeChans(n, capacity int) []chan int {
	cs := make([]chan int, n)
	for i := range cs {
		cs[i] = make(chan int, capacity)
	}
	return cs
}

func fanIn2(capacity int) func(*testing.B) {
	return func(b *testing.B) {
		cs := makeChans(2, capacity)
		c0, c1 := cs[0], cs[1]
		fanIn(b, cs, func() int {
			select {
			case v := <-c0:
				return v
			case v := <-c1:
				return v
			}
		})
	}
}

func fanIn4(capacity int) func(*testing.B) {
	return func(b *testing.B) {
		cs := makeChans(4, capacity)
		c0, c1, c2, c3 := cs[0], cs[1], cs[2], cs[3]
		fanIn(b, cs, func() int {
			select {
			case v := <-c0:
				return v
			case v := <-c1:
				return v
			case v := <-c2:
				return v
			case v := <-c3:
				return v
			}
		})
	}
}

func fanIn8(capacity int) func(*testing.B) {
	return func(b *testing.B) {
		cs := makeChans(8, capacity)
		c0, c1, c2, c3, c4, c5, c6, c7 := cs[0], cs[1], cs[2], cs[3], cs[4], cs[5], cs[6], cs[7]
		fanIn(b, cs, func() int {
			select {
			case v := <-c0:
				return v
			case v := <-c1:
				return v
			case v := <-c2:
				return v
			case v := <-c3:
				return v
			case v := <-c4:
				return v
			case v := <-c5:
				return v
			case v := <-c6:
				return v
			case v := <-c7:
				return v
			}
		})
	}
}

// ---- timers -----------------------------------------------------------------------------

// One op = time.NewTimer(time.Hour) + Stop.
func timerCreateStop(b *testing.B) {
	for i := 0; i < b.N; i++ {
		t := time.NewTimer(time.Hour)
		t.Stop()
	}
}

// One op = select on a never-ready channel and time.After(0): a timer fire round trip.
func afterTimeout(b *testing.B) {
	never := make(chan int)
	for i := 0; i < b.N; i++ {
		select {
		case <-never:
			panic("after_timeout: the never-ready channel fired")
		case <-time.After(0):
		}
	}
}

// ---- mutex ------------------------------------------------------------------------------

func mutexUncontended(b *testing.B) {
	var mu sync.Mutex
	for i := 0; i < b.N; i++ {
		mu.Lock()
		mu.Unlock()
	}
}

// One op = one increment; 4 goroutines share b.N increments.
func mutexContended(b *testing.B) {
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	wg.Add(contenders)
	for k := 0; k < contenders; k++ {
		go func(n int) {
			for i := 0; i < n; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}(quota(b.N, contenders, k))
	}
	wg.Wait()
	if counter != b.N {
		panic("mutex_contended: lost increments")
	}
}

// ---- driver -----------------------------------------------------------------------------

type scenario struct {
	name string
	fn   func(*testing.B)
}

func scenarios() []scenario {
	s := []scenario{
		{"chan_ping_pong_unbuffered", pingPongUnbuffered},
		{"chan_spsc_buffered", spscBuffered},
	}
	for _, kind := range []struct {
		name     string
		capacity int
	}{{"buffered", fanInCapacity}, {"unbuffered", 0}} {
		s = append(s,
			scenario{"select_fan_in_" + kind.name + "/channels:2", fanIn2(kind.capacity)},
			scenario{"select_fan_in_" + kind.name + "/channels:4", fanIn4(kind.capacity)},
			scenario{"select_fan_in_" + kind.name + "/channels:8", fanIn8(kind.capacity)})
	}
	return append(s,
		scenario{"select_timer_create_stop", timerCreateStop},
		scenario{"select_after_timeout", afterTimeout},
		scenario{"select_mutex_uncontended", mutexUncontended},
		scenario{"select_mutex_contended", mutexContended})
}

func main() {
	testing.Init() // registers -test.benchtime, which testing.Benchmark reads
	benchtime := flag.String("benchtime", "500ms", "run each benchmark for `d` (or Nx iterations)")
	count := flag.Int("count", 1, "repetitions of each benchmark")
	procsFlag := flag.String("procs", "1,2", "comma-separated GOMAXPROCS `values`")
	filter := flag.String("filter", "", "run only scenarios whose name matches `regexp`")
	short := flag.Bool("short", false, "smoke test: -benchtime 1000x -count 1")
	flag.Parse()
	if *short {
		*benchtime, *count = "1000x", 1
	}
	if err := flag.Set("test.benchtime", *benchtime); err != nil {
		fail("bad -benchtime: %v", err)
	}
	re, err := regexp.Compile(*filter)
	if err != nil {
		fail("bad -filter: %v", err)
	}
	var procs []int
	for _, f := range strings.Split(*procsFlag, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 1 {
			fail("bad -procs value %q", f)
		}
		procs = append(procs, p)
	}

	fmt.Fprintf(os.Stderr, "# %s %s/%s, %d CPUs\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Println("name\tprocs\tns_per_op")
	for _, s := range scenarios() {
		if !re.MatchString(s.name) {
			continue
		}
		for _, p := range procs {
			prev := runtime.GOMAXPROCS(p)
			var ns []float64
			for i := 0; i < *count; i++ {
				r := testing.Benchmark(s.fn)
				if r.N == 0 {
					fail("%s: benchmark failed", s.name)
				}
				ns = append(ns, float64(r.T.Nanoseconds())/float64(r.N))
				fmt.Printf("%s\t%d\t%.2f\n", s.name, p, ns[i])
			}
			if len(ns) > 1 {
				fmt.Printf("%s_median\t%d\t%.2f\n", s.name, p, median(ns))
			}
			runtime.GOMAXPROCS(prev)
		}
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/go: "+format+"\n", args...)
	os.Exit(2)
}
