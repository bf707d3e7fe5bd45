// SPDX-License-Identifier: AGPL-3.0-only

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/grafana/mimir/pkg/querier/stats"
	"github.com/grafana/mimir/pkg/streamingpromql"
	"github.com/grafana/mimir/pkg/streamingpromql/compat"
	"github.com/grafana/mimir/pkg/util/limiter"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// Engine names this host serves.
const (
	EngineMQE        = "mqe"
	EnginePrometheus = "mimir-prometheus"
)

// parserOptions turns on everything docs/host-protocol.md asks for: experimental functions,
// duration expressions, anchored/smoothed range selectors and fill modifiers (Mimir leaves
// fill modifiers off by default; MQE answers "not supported" for them, which is what the
// suite should see).
func parserOptions() parser.Options {
	return parser.Options{
		EnableExperimentalFunctions:  true,
		ExperimentalDurationExpr:     true,
		EnableExtendedRangeSelectors: true,
		EnableBinopFillModifiers:     true,
	}
}

// mqeOptions configures MQE over the shared hostkit configuration: the optimization
// passes as Mimir ships them unless the options say otherwise (applyPassOptions,
// docs/engines.md), delayed name removal from the common options (in Mimir a per-tenant
// limit, -querier.enable-delayed-name-removal, default false), without pedantic mode
// (which panics in Close when a pooled slice was not returned: a host must keep
// answering). The rest comes from streamingpromql.NewTestEngineOpts (static limits, no
// memory limit).
func mqeOptions(common promql.EngineOpts, o *hostkit.Options) (streamingpromql.EngineOpts, map[string]string, error) {
	opts := streamingpromql.NewTestEngineOpts()
	opts.CommonOpts = common
	opts.Pedantic = false
	opts.Logger = level.NewFilter(log.NewLogfmtLogger(log.NewSyncWriter(os.Stderr)), level.AllowWarn())
	limits := streamingpromql.NewStaticQueryLimitsProvider()
	limits.EnableDelayedNameRemoval = common.EnableDelayedNameRemoval
	opts.Limits = limits
	config, err := applyPassOptions(o, &opts)
	return opts, config, err
}

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
	planner, err := streamingpromql.NewQueryPlanner(mopts, streamingpromql.NewMaximumSupportedVersionQueryPlanVersionProvider())
	if err != nil {
		return hostkit.Host{}, fmt.Errorf("MQE query planner: %w", err)
	}
	mqe, err := streamingpromql.NewEngine(mopts, stats.NewQueryMetrics(nil), planner)
	if err != nil {
		return hostkit.Host{}, fmt.Errorf("MQE engine: %w", err)
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

// isNotSupported reports MQE's "not supported" error (compat.NotSupportedError), also
// when wrapped.
func isNotSupported(err error) bool {
	var ns compat.NotSupportedError
	return errors.As(err, &ns)
}

// withMemoryTracker puts an unlimited memory consumption tracker into the query context.
// MQE adopts a tracker it finds in the context (as it does under Mimir's query-frontend
// for split queries) instead of creating its own, so after Exec the tracker holds the
// query's estimated peak memory.
func withMemoryTracker(ctx context.Context) (context.Context, func() int64) {
	tracker := limiter.NewUnlimitedMemoryConsumptionTracker(ctx)
	ctx = limiter.AddMemoryTrackerToContext(ctx, tracker)
	return ctx, func() int64 { return int64(tracker.PeakEstimatedMemoryConsumptionBytes()) }
}
