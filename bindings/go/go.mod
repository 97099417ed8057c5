module github.com/shmmetrics/shmmetrics/bindings/go

// Go 1.21: what the go-metrics users this binding is for (MOSN, sarama pins) still build with.
go 1.21

// The interfaces this binding implements (Counter, Gauge, GaugeFloat64, Registry). Archived
// upstream, so the last commit is the version; its API has not changed since 2018.
require github.com/rcrowley/go-metrics v0.0.0-20250401214520-65e299d6c5c9
