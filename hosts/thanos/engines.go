package main

import (
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/thanos-io/promql-engine/engine"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// Engine names this host serves.
const (
	EngineThanos     = "thanos"
	EnginePrometheus = "thanos-prometheus"
)

// enableParserFeatures turns on, through the parser's global switches of this Prometheus
// version (v0.308.0 has no parser options value), what docs/host-protocol.md asks for:
// experimental functions, duration expressions and anchored/smoothed range selectors.
// Fill modifiers do not exist in this version. The Thanos engine parses with the same
// global parser, so both engines see the same language.
func enableParserFeatures() {
	parser.EnableExperimentalFunctions = true
	parser.ExperimentalDurationExpr = true
	parser.EnableExtendedRangeSelectors = true
}

// newHost builds both engines over one configuration.
func newHost() hostkit.Host {
	enableParserFeatures()
	common := hostkit.EngineOpts()
	return hostkit.Host{
		Engines: []hostkit.Engine{
			{
				Name: EngineThanos,
				// EnableAnalysis (as the engine's own fuzz tests run it) makes Stats()
				// report the samples the query touched, like the Prometheus engine does.
				Engine:        engine.New(engine.Opts{EngineOpts: common, EnableAnalysis: true}),
				IsUnsupported: engine.IsUnimplemented,
			},
			{
				Name:   EnginePrometheus,
				Engine: promql.NewEngine(common),
			},
		},
		Parse: parser.ParseExpr,
	}
}
