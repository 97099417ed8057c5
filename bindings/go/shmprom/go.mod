module github.com/shmmetrics/shmmetrics/bindings/go/shmprom

// client_golang v1.25 needs Go 1.26; the core module (..) stays on Go 1.21.
go 1.26.0

require (
	// The Prometheus Go client: the Collector interface this package implements.
	github.com/prometheus/client_golang v1.25.0
	// Its data model, to read gathered families in the tests.
	github.com/prometheus/client_model v0.6.3
	github.com/shmmetrics/shmmetrics/bindings/go v0.0.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/rcrowley/go-metrics v0.0.0-20250401214520-65e299d6c5c9 // indirect
	golang.org/x/sys v0.48.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// The core module of this repository (a user's module replaces it the same way; docs/GO.md).
replace github.com/shmmetrics/shmmetrics/bindings/go => ../
