// SPDX-License-Identifier: AGPL-3.0-only

package main

import (
	"net/http"
	"os"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// Engine names this host serves.
const (
	EngineMQE        = "mqe"
	EnginePrometheus = "mimir-prometheus"
)

// newHost builds both engines over one configuration. Options (docs/engines.md):
// lookback and delayed_name_removal apply to both engines, passes and pass.<name> to MQE.
func newHost(o *hostkit.Options) (hostkit.Host, error) {
	p := parser.NewParser(parserOptions())
	common := hostkit.EngineOpts()
	common.Parser = p
	commonConfig, err := hostkit.ApplyCommonOptions(o, &common, false)
	if err != nil {
		return hostkit.Host{}, err
	}

	mopts, passConfig, err := mqeOptions(common, o)
	if err != nil {
		return hostkit.Host{}, err
	}
	mqe, err := newMQE(mopts)
	if err != nil {
		return hostkit.Host{}, err
	}
	mqeConfig := map[string]string{}
	for k, v := range commonConfig {
		mqeConfig[k] = v
	}
	for k, v := range passConfig {
		mqeConfig[k] = v
	}

	return hostkit.Host{
		Engines: []hostkit.Engine{
			{
				Name:          EngineMQE,
				Engine:        &leakCheckingEngine{inner: mqe, log: os.Stderr},
				IsUnsupported: isNotSupported,
				Prepare:       withMemoryTracker,
				Config:        mqeConfig,
			},
			{
				Name:   EnginePrometheus,
				Engine: promql.NewEngine(common),
				Config: commonConfig,
			},
		},
		Parse:  p.ParseExpr,
		Routes: func(s *hostkit.Server, mux *http.ServeMux) { mux.HandleFunc("/generate", handleGenerate(s)) },
	}, nil
}
