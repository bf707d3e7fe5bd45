package main

// compat.go holds every call this host makes into the promql-engine API (and the
// Prometheus version it pins) that may differ between revisions: the parser switches, the
// engine constructor and its options, the optimizer lists and the Optimizer interface, and
// the "unimplemented" error test. A host built for another revision (promfuzz's
// thanos@REV specs, docs/engines.md) compiles this file against that revision; when a
// revision renames one of these, this is the one file to adapt.

import (
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/thanos-io/promql-engine/engine"
	"github.com/thanos-io/promql-engine/logicalplan"
	"github.com/thanos-io/promql-engine/query"
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

// parseExpr is the parser call of this Prometheus version (the global parser).
func parseExpr(q string) (parser.Expr, error) { return parser.ParseExpr(q) }

// newThanosEngine is the Thanos engine over the shared options. EnableAnalysis (as the
// engine's own fuzz tests run it) makes Stats() report the samples the query touched,
// like the Prometheus engine does. A nil optimizer list means the engine's defaults.
func newThanosEngine(common promql.EngineOpts, opt []logicalplan.Optimizer) promql.QueryEngine {
	return engine.New(engine.Opts{EngineOpts: common, EnableAnalysis: true, LogicalOptimizers: opt})
}

// isUnimplemented reports the engine's "not implemented" errors (answered "unsupported").
func isUnimplemented(err error) bool { return engine.IsUnimplemented(err) }

// allOptimizers is logicalplan.AllOptimizers (the defaults plus PropagateMatchersOptimizer).
func allOptimizers() []logicalplan.Optimizer { return logicalplan.AllOptimizers }

// noOptimizers is a list holding one optimizer that changes nothing. engine.New replaces
// an empty LogicalOptimizers list (logicalplan.NoOptimizers included) with the defaults,
// so this is how the engine runs with none.
func noOptimizers() []logicalplan.Optimizer { return []logicalplan.Optimizer{identity{}} }

// identity is an optimizer that changes nothing.
type identity struct{}

func (identity) Optimize(plan logicalplan.Node, _ *query.Options) (logicalplan.Node, annotations.Annotations) {
	return plan, nil
}
