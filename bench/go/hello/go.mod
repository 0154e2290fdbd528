module gofer/bench/go/hello

go 1.19
