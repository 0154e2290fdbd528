// Command go is the Go side of gofer's benchmarks: the scenarios of bench/chan_bench.cpp
// and bench/select_bench.cpp, written in Go, to compare gofer with the runtime it imitates.
//
// It is a plain program (standard library only, works offline): each scenario runs under
// testing.Benchmark at every requested GOMAXPROCS, and one line per result is printed as
// TSV:
//
//	name<TAB>procs<TAB>value<TAB>unit
//
// A name is the gofer benchmark's name without "BM_<implementation>_" and without
// "/threads:N" (procs is that N): ping_pong_unbuffered here is
// BM_gofer_ping_pong_unbuffered/threads:N there, spsc_buffered/cap:64 is
// BM_gofer_spsc_buffered/cap:64/threads:N. The unit is ns/op (real time per item, round
// trip or goroutine, as on the C++ side) except for memory_per_goroutine (B/goroutine: RSS
// growth per parked goroutine; run it in a fresh process: -filter '^memory').
// With -count > 1, each scenario's repetitions are followed by a line for their median,
// named like Google Benchmark's aggregates: spsc_buffered/cap:64_median.
//
// Usage (from bench/go):
//
//	go run . [-benchtime 500ms] [-count 1] [-procs 1,2] [-filter regexp] [-scale k] [-short]
//
// -scale k divides the big counts (1,000,000 pool jobs, 100,000 goroutines) by k; -short
// runs every scenario for a moment with -scale 100 (CTest's bench-smoke); those numbers
// mean nothing.
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
	mpmcCapacity  = 1024    // chan_bench.cpp's kMpmcCapacity
	poolCapacity  = 128     // chan_bench.cpp's kPoolCapacity
	poolWorkers   = 8       // chan_bench.cpp's kPoolWorkers
	poolJobs      = 1000000 // chan_bench.cpp's kPoolJobs
	goroutines    = 100000  // runtime_bench.cpp's kGoroutines
	fanInCapacity = 64      // select_bench.cpp's kFanInCapacity
	contenders    = 4       // select_bench.cpp's kContenders
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

// One op = one item through a channel of the given capacity, one producer, one consumer.
func spscBuffered(capacity int) func(*testing.B) {
	return func(b *testing.B) {
		c := make(chan int, capacity)
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
}

// One op = one item: pairs producers and pairs consumers share one channel of capacity
// 1024 and b.N items; starting and joining the goroutines is timed, as in chan_bench.cpp.
func mpmcBalanced(pairs int) func(*testing.B) {
	return func(b *testing.B) {
		c := make(chan int, mpmcCapacity)
		var wg sync.WaitGroup
		wg.Add(2 * pairs)
		for k := 0; k < pairs; k++ {
			n := quota(b.N, pairs, k)
			go func() {
				for i := 0; i < n; i++ {
					c <- i
				}
				wg.Done()
			}()
			go func() {
				sum := 0
				for i := 0; i < n; i++ {
					sum += <-c
				}
				_ = sum
				wg.Done()
			}()
		}
		wg.Wait()
	}
}

// One op = jobs tiny jobs (x -> 2x) through 8 worker goroutines, results back on a second
// channel (Go by Example's worker pool); reported per job by the driver.
func poolThroughput(jobs int) func(*testing.B) {
	return func(b *testing.B) {
		for it := 0; it < b.N; it++ {
			in, out := make(chan int, poolCapacity), make(chan int, poolCapacity)
			for w := 0; w < poolWorkers; w++ {
				go func() {
					for j := range in {
						out <- 2 * j
					}
				}()
			}
			go func() {
				for j := 0; j < jobs; j++ {
					in <- j
				}
				close(in)
			}()
			sum := 0
			for j := 0; j < jobs; j++ {
				sum += <-out
			}
			if sum != jobs*(jobs-1) {
				panic("pool_throughput: wrong sum")
			}
		}
	}
}

// ---- goroutines (runtime_bench.cpp) -----------------------------------------------------

// One op = n goroutines started and joined (wg.Done each); reported per goroutine.
func spawn(n int) func(*testing.B) {
	return func(b *testing.B) {
		for it := 0; it < b.N; it++ {
			var wg sync.WaitGroup
			wg.Add(n)
			for i := 0; i < n; i++ {
				go wg.Done()
			}
			wg.Wait()
		}
	}
}

// rssBytes is this process's resident set size (/proc/self/statm), 0 if unreadable.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// memoryPerGoroutine is the RSS growth per goroutine while n goroutines are parked on a
// receive, as in runtime_bench.cpp. Not a testing.Benchmark: one measurement.
func memoryPerGoroutine(n int) float64 {
	runtime.GC()
	before := rssBytes()
	block := make(chan int)
	var parked, finished sync.WaitGroup
	parked.Add(n)
	finished.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			parked.Done()
			<-block
			finished.Done()
		}()
	}
	parked.Wait()
	after := rssBytes()
	close(block)
	finished.Wait()
	return float64(after-before) / float64(n)
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

// A scenario is a testing.Benchmark function whose ns/op is divided by perOp (the items
// one op stands for), or, with memory set, a one-off measurement in bytes.
type scenario struct {
	name   string
	fn     func(*testing.B)
	perOp  int
	memory func() float64
	procs  []int // only at these GOMAXPROCS (nil: every -procs value)
}

func scenarios(scale int) []scenario {
	jobs, n := poolJobs/scale, goroutines/scale
	s := []scenario{{name: "ping_pong_unbuffered", fn: pingPongUnbuffered}}
	for _, c := range []int{1, 64, 1024} {
		s = append(s, scenario{name: fmt.Sprintf("spsc_buffered/cap:%d", c), fn: spscBuffered(c)})
	}
	s = append(s, scenario{name: "mpmc_balanced/pairs:4", fn: mpmcBalanced(4)}) // also -procs 4
	for _, p := range []int{1, 2, 8, 16} {
		s = append(s, scenario{name: fmt.Sprintf("mpmc_balanced/pairs:%d", p), fn: mpmcBalanced(p), procs: []int{2}})
	}
	s = append(s, scenario{name: fmt.Sprintf("pool_throughput/jobs:%d", jobs), fn: poolThroughput(jobs), perOp: jobs})
	for _, kind := range []struct {
		name     string
		capacity int
	}{{"buffered", fanInCapacity}, {"unbuffered", 0}} {
		s = append(s,
			scenario{name: "select_fan_in_" + kind.name + "/channels:2", fn: fanIn2(kind.capacity)},
			scenario{name: "select_fan_in_" + kind.name + "/channels:4", fn: fanIn4(kind.capacity)},
			scenario{name: "select_fan_in_" + kind.name + "/channels:8", fn: fanIn8(kind.capacity)})
	}
	return append(s,
		scenario{name: "timer_create_stop", fn: timerCreateStop},
		scenario{name: "after_timeout", fn: afterTimeout},
		scenario{name: "mutex_uncontended", fn: mutexUncontended},
		scenario{name: "mutex_contended", fn: mutexContended},
		scenario{name: fmt.Sprintf("spawn/n:%d", n), fn: spawn(n), perOp: n},
		scenario{name: fmt.Sprintf("memory_per_goroutine/n:%d", n), memory: func() float64 { return memoryPerGoroutine(n) }})
}

func main() {
	testing.Init() // registers -test.benchtime, which testing.Benchmark reads
	benchtime := flag.String("benchtime", "500ms", "run each benchmark for `d` (or Nx iterations)")
	count := flag.Int("count", 1, "repetitions of each benchmark")
	procsFlag := flag.String("procs", "1,2", "comma-separated GOMAXPROCS `values`")
	filter := flag.String("filter", "", "run only scenarios whose name matches `regexp`")
	scale := flag.Int("scale", 1, "divide the pool's job count and the goroutine count by `k`")
	short := flag.Bool("short", false, "smoke test: -benchtime 1000x -count 1 -scale 100")
	flag.Parse()
	if *short {
		*benchtime, *count, *scale = "1000x", 1, 100
	}
	if *scale < 1 {
		fail("bad -scale %d", *scale)
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
	fmt.Println("name\tprocs\tvalue\tunit")
	for _, s := range scenarios(*scale) {
		if !re.MatchString(s.name) {
			continue
		}
		for _, p := range procs {
			if s.procs != nil && !contains(s.procs, p) {
				continue
			}
			prev := runtime.GOMAXPROCS(p)
			unit := "ns/op"
			if s.memory != nil {
				unit = "B/goroutine"
			}
			var vs []float64
			for i := 0; i < *count; i++ {
				var v float64
				if s.memory != nil {
					v = s.memory()
				} else {
					r := testing.Benchmark(s.fn)
					if r.N == 0 {
						fail("%s: benchmark failed", s.name)
					}
					v = float64(r.T.Nanoseconds()) / float64(r.N) / float64(max(s.perOp, 1))
				}
				vs = append(vs, v)
				fmt.Printf("%s\t%d\t%.2f\t%s\n", s.name, p, v, unit)
			}
			if len(vs) > 1 {
				fmt.Printf("%s_median\t%d\t%.2f\t%s\n", s.name, p, median(vs), unit)
			}
			runtime.GOMAXPROCS(prev)
		}
	}
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
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
