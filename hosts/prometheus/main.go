// Command prometheus-host is the promfuzz engine host for upstream Prometheus's PromQL
// engine (engine name "prometheus"), speaking docs/host-protocol.md through hostkit.
//
// Build: CGO_ENABLED=0 go build -o ../../.build/prometheus-host .
package main

import (
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// newParser is the parser of the engine and of /api/v1/parse: experimental functions and
// fill modifiers on. Duration expressions and anchored/smoothed range selectors need no
// option in this version; unquoted UTF-8 names stay off (not part of the fuzzed syntax).
func newParser() parser.Parser {
	return parser.NewParser(parser.Options{
		EnableExperimentalFunctions: true,
		EnableBinopFillModifiers:    true,
	})
}

// newHost builds the host: one upstream engine with the shared configuration.
func newHost() hostkit.Host {
	p := newParser()
	opts := hostkit.EngineOpts()
	opts.Parser = p
	return hostkit.Host{
		Engines: []hostkit.Engine{{Name: "prometheus", Engine: promql.NewEngine(opts)}},
		Parse:   p.ParseExpr,
	}
}

func main() {
	hostkit.Main(newHost())
}
