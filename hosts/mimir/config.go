// SPDX-License-Identifier: AGPL-3.0-only

package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/grafana/mimir/pkg/streamingpromql"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// Option names of this host beyond hostkit's lookback and delayed_name_removal
// (docs/engines.md): passes=default|all|none picks the base set of MQE optimization
// passes, pass.<name>=true|false turns one pass on or off on top of it.
const (
	OptPasses     = "passes"
	OptPassPrefix = "pass."
)

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

// knownOptions is every option this host reads, for the unknown-option message.
func knownOptions() []string {
	out := []string{hostkit.OptLookback, hostkit.OptDelayedNameRemoval, OptPasses}
	for _, p := range passes {
		out = append(out, OptPassPrefix+p.name)
	}
	return out
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

// passDefault reports Mimir's default for one pass and the flag it was read from.
func passDefault(name string) (bool, string) {
	d := mimirDefaults()
	for _, p := range passes {
		if p.name == name {
			return *p.on(&d), "querier.mimir-query-engine." + p.flag
		}
	}
	return false, ""
}

// applyPassOptions sets the passes of o from the options: the base set (passes=default:
// Mimir's flag defaults; all: every pass, as Mimir's own tests run MQE with
// streamingpromql.NewTestEngineOpts; none), then each pass.<name> override. It returns
// the effective switches as Engine.Config entries (pass.<name> -> true/false).
func applyPassOptions(opts *hostkit.Options, o *streamingpromql.EngineOpts) (map[string]string, error) {
	base := opts.String(OptPasses, "default")
	defaults := mimirDefaults()
	for _, p := range passes {
		switch base {
		case "default":
			*p.on(o) = *p.on(&defaults)
		case "all":
			*p.on(o) = true
		case "none":
			*p.on(o) = false
		default:
			return nil, fmt.Errorf("option passes=%q: expected default, all or none", base)
		}
		v, err := opts.Bool(OptPassPrefix+p.name, *p.on(o))
		if err != nil {
			return nil, err
		}
		*p.on(o) = v
	}
	// The planner refuses these combinations too; say it in promfuzz's terms.
	if o.EnableSubsetSelectorElimination && !o.EnableCommonSubexpressionElimination {
		return nil, fmt.Errorf("pass subset_selector_elimination needs common_subexpression_elimination (Mimir's planner refuses it alone)")
	}
	if o.EnableMultiAggregation && !o.EnableCommonSubexpressionElimination {
		return nil, fmt.Errorf("pass multi_aggregation needs common_subexpression_elimination (Mimir's planner refuses it alone)")
	}
	config := map[string]string{}
	for _, p := range passes {
		config[OptPassPrefix+p.name] = hostkit.FormatBool(*p.on(o))
	}
	return config, nil
}

// sortedConfig is a stable printout of a config map (for error messages and tests).
func sortedConfig(c map[string]string) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + c[k]
	}
	return strings.Join(parts, ",")
}
