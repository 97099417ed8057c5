module github.com/shmmetrics/shmmetrics/bindings/go/shmotel

// The OpenTelemetry SDK v1.47 needs Go 1.26; the core module (..) stays on Go 1.21.
go 1.26.0

require (
	github.com/shmmetrics/shmmetrics/bindings/go v0.0.0
	// OpenTelemetry's metric SDK (the Producer interface and the metricdata types this package
	// fills) and the attribute and instrumentation-scope types those use.
	go.opentelemetry.io/otel v1.47.0
	go.opentelemetry.io/otel/sdk v1.47.0
	go.opentelemetry.io/otel/sdk/metric v1.47.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/rcrowley/go-metrics v0.0.0-20250401214520-65e299d6c5c9 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.opentelemetry.io/otel/log v1.47.0 // indirect
	go.opentelemetry.io/otel/metric v1.47.0 // indirect
	go.opentelemetry.io/otel/trace v1.47.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

// The core module of this repository (a user's module replaces it the same way; docs/GO.md).
replace github.com/shmmetrics/shmmetrics/bindings/go => ../
