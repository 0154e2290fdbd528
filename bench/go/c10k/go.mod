module gofer/bench/go/c10k

go 1.19
