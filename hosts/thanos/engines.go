package main

import (
	"github.com/prometheus/prometheus/promql"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// Engine names this host serves.
const (
	EngineThanos     = "thanos"
	EnginePrometheus = "thanos-prometheus"
)

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
				Name:          EngineThanos,
				Engine:        newThanosEngine(thanosCommon, opt),
				IsUnsupported: isUnimplemented,
				Config:        map[string]string{hostkit.OptLookback: commonConfig[hostkit.OptLookback], OptOptimizers: optName},
			},
			{
				Name:   EnginePrometheus,
				Engine: promql.NewEngine(common),
				Config: commonConfig,
			},
		},
		Parse: parseExpr,
	}, nil
}
