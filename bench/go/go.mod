module gofer/bench/go

go 1.19
