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

// newHost builds both engines over one configuration. Options (docs/engines.md): lookback
// for both engines, delayed_name_removal for the Prometheus engine only (the Thanos
// engine has no such setting: promfuzz refuses the option on the thanos family),
// optimizers for the Thanos engine.
func newHost(o *hostkit.Options) (hostkit.Host, error) {
	enableParserFeatures()
	common := hostkit.EngineOpts()
	commonConfig, err := hostkit.ApplyCommonOptions(o, &common, false)
	if err != nil {
		return hostkit.Host{}, err
	}
	opt, optName, err := optimizers(o)
	if err != nil {
		return hostkit.Host{}, err
	}
	thanosCommon := common
	thanosCommon.EnableDelayedNameRemoval = false
	return hostkit.Host{
		Engines: []hostkit.Engine{
			{
				Name: EngineThanos,
				// EnableAnalysis (as the engine's own fuzz tests run it) makes Stats()
				// report the samples the query touched, like the Prometheus engine does.
				Engine:        engine.New(engine.Opts{EngineOpts: thanosCommon, EnableAnalysis: true, LogicalOptimizers: opt}),
				IsUnsupported: engine.IsUnimplemented,
				Config:        map[string]string{hostkit.OptLookback: commonConfig[hostkit.OptLookback], OptOptimizers: optName},
			},
			{
				Name:   EnginePrometheus,
				Engine: promql.NewEngine(common),
				Config: commonConfig,
			},
		},
		Parse: parser.ParseExpr,
	}, nil
}
