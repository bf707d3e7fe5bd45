// SPDX-License-Identifier: AGPL-3.0-only

package main

// compat.go holds every call this host makes into Mimir's API that may differ between
// Mimir revisions: the parser options, MQE's options and constructor, the switchable
// optimization passes (EngineOpts field names), the "not supported" error type and the
// memory tracker. A host built for another revision (promfuzz's FAMILY@REV specs,
// docs/engines.md) compiles this file against that revision; when a revision renames one
// of these, this is the one file to adapt.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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

// newMQE builds the MQE engine (query planner, then engine) from its options.
func newMQE(opts streamingpromql.EngineOpts) (promql.QueryEngine, error) {
	planner, err := streamingpromql.NewQueryPlanner(opts, streamingpromql.NewMaximumSupportedVersionQueryPlanVersionProvider())
	if err != nil {
		return nil, fmt.Errorf("MQE query planner: %w", err)
	}
	mqe, err := streamingpromql.NewEngine(opts, stats.NewQueryMetrics(nil), planner)
	if err != nil {
		return nil, fmt.Errorf("MQE engine: %w", err)
	}
	return mqe, nil
}

// trackerFromContext is the memory consumption tracker withMemoryTracker put in ctx.
func trackerFromContext(ctx context.Context) (*limiter.MemoryConsumptionTracker, error) {
	return limiter.MemoryConsumptionTrackerFromContext(ctx)
}

// trackerBytes is what a tracker still accounts, and its description for the leak log.
func trackerBytes(t *limiter.MemoryConsumptionTracker) (uint64, string) {
	b := t.CurrentEstimatedMemoryConsumptionBytes()
	if b == 0 {
		return 0, ""
	}
	return b, t.DescribeCurrentMemoryConsumption()
}

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

// pass is one MQE optimization pass that Mimir's configuration can switch, by the name
// promfuzz gives it (Mimir's flag without "querier.mimir-query-engine.enable-", with
// underscores), and where its switch lives in streamingpromql.EngineOpts.
type pass struct {
	name string
	flag string
	on   func(*streamingpromql.EngineOpts) *bool
}

// passes lists every switchable pass in the order streamingpromql.NewQueryPlanner
// registers them. Passes the planner always runs (InsertOmittedTargetInfoSelector,
// CollapseConstants, SortLabelsAndMatchers, SkipHistogramDecoding) have no switch.
var passes = []pass{
	{"prune_toggles", "enable-prune-toggles", func(o *streamingpromql.EngineOpts) *bool { return &o.EnablePruneToggles }},
	{"reduce_matchers", "enable-reduce-matchers", func(o *streamingpromql.EngineOpts) *bool { return &o.EnableReduceMatchers }},
	{"eliminate_deduplicate_and_merge", "enable-eliminate-deduplicate-and-merge", func(o *streamingpromql.EngineOpts) *bool { return &o.EnableEliminateDeduplicateAndMerge }},
	{"remove_statically_empty_expressions", "enable-remove-statically-empty-expressions", func(o *streamingpromql.EngineOpts) *bool { return &o.EnableRemoveStaticallyEmptyExpressions }},
	{"projection_pushdown", "enable-projection-pushdown", func(o *streamingpromql.EngineOpts) *bool { return &o.EnableProjectionPushdown }},
	{"common_subexpression_elimination", "enable-common-subexpression-elimination", func(o *streamingpromql.EngineOpts) *bool { return &o.EnableCommonSubexpressionElimination }},
	{"subset_selector_elimination", "enable-subset-selector-elimination", func(o *streamingpromql.EngineOpts) *bool { return &o.EnableSubsetSelectorElimination }},
	{"multi_aggregation", "enable-multi-aggregation", func(o *streamingpromql.EngineOpts) *bool { return &o.EnableMultiAggregation }},
	{"narrow_binary_selectors", "enable-narrow-binary-selectors", func(o *streamingpromql.EngineOpts) *bool { return &o.EnableNarrowBinarySelectors }},
}

// mimirDefaults returns MQE's options as Mimir ships them: the defaults of the flags
// Mimir's querier registers (streamingpromql.EngineOpts.RegisterFlags, called from
// pkg/querier/engine.Config.RegisterFlags), read from the flag set itself so they follow
// the pinned Mimir version instead of a copy.
func mimirDefaults() streamingpromql.EngineOpts {
	var o streamingpromql.EngineOpts
	fs := flag.NewFlagSet("mimir-defaults", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.RegisterFlags(fs)
	return o
}
