module github.com/shmmetrics/shmmetrics/examples/go

go 1.26.0

// What the example shows: go-metrics code on the binding, and the zone's Prometheus exposition
// (client_golang's registry, printed with prometheus/common's text encoder).
require (
	github.com/prometheus/client_golang v1.25.0
	github.com/prometheus/common v0.72.0
	github.com/rcrowley/go-metrics v0.0.0-20250401214520-65e299d6c5c9
	github.com/shmmetrics/shmmetrics/bindings/go v0.0.0
	github.com/shmmetrics/shmmetrics/bindings/go/shmprom v0.0.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// The binding from this repository, as an outside module uses it (docs/GO.md).
replace (
	github.com/shmmetrics/shmmetrics/bindings/go => ../../bindings/go
	github.com/shmmetrics/shmmetrics/bindings/go/shmprom => ../../bindings/go/shmprom
)
