module github.com/depprobe/depprobe/bench

go 1.26.0
