// Command prometheus-host is the promfuzz engine host for upstream Prometheus's PromQL
// engine (engine name "prometheus"), speaking docs/host-protocol.md through hostkit.
//
// Build: CGO_ENABLED=0 go build -o ../../.build/prometheus-host .
package main

import (
	"os"

	"github.com/prometheus/prometheus/promql"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// newHost builds the host: one upstream engine with the shared configuration
// ("prometheus", what a default server runs: cmd/prometheus/main.go's engine options),
// or with --promqltest-engine the same engine configured like promqltest's built-in test
// engine ("prometheus-promqltest": delayed name removal, start timestamps, unquoted UTF-8
// names), so Prometheus's own .test files replay as its own harness runs them. Options
// (hostkit.ApplyCommonOptions): lookback, delayed_name_removal (default false for
// "prometheus", true for "prometheus-promqltest").
func newHost(promqltestEngine bool, o *hostkit.Options) (hostkit.Host, error) {
	p := newParser()
	opts := hostkit.EngineOpts()
	name := "prometheus"
	if promqltestEngine {
		p = promqltestEngineParts(&opts)
		name = "prometheus-promqltest"
	}
	config, err := hostkit.ApplyCommonOptions(o, &opts, promqltestEngine)
	if err != nil {
		return hostkit.Host{}, err
	}
	setParser(&opts, p)
	return hostkit.Host{
		Engines: []hostkit.Engine{{Name: name, Engine: promql.NewEngine(opts), Config: config}},
		Parse:   p.ParseExpr,
	}, nil
}

func main() {
	// --promqltest-engine is this host's own flag; hostkit parses the rest.
	args, promqltestEngine := os.Args[:1], false
	for _, a := range os.Args[1:] {
		if a == "--promqltest-engine" {
			promqltestEngine = true
			continue
		}
		args = append(args, a)
	}
	os.Args = args
	hostkit.MainWithOptions(func(o *hostkit.Options) (hostkit.Host, error) { return newHost(promqltestEngine, o) },
		[]string{hostkit.OptLookback, hostkit.OptDelayedNameRemoval})
}
