// Command thanos-host serves the Thanos PromQL engine (engine "thanos") and the Prometheus
// engine of the Prometheus version it pins (engine "thanos-prometheus") over one in-memory
// TSDB, speaking the promfuzz host protocol (docs/host-protocol.md) through hostkit.
package main

import (
	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

func main() {
	hostkit.MainWithOptions(newHost, knownOptions())
}
