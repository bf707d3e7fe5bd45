package main

import (
	"fmt"

	"github.com/prometheus/prometheus/util/annotations"
	"github.com/thanos-io/promql-engine/logicalplan"
	"github.com/thanos-io/promql-engine/query"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// OptOptimizers picks the Thanos engine's logical optimizers (docs/engines.md):
// default (logicalplan.DefaultOptimizers, what engine.New runs when Opts.LogicalOptimizers
// is empty), all (logicalplan.AllOptimizers: the defaults plus PropagateMatchersOptimizer,
// as the engine's own tests run it) or none.
const OptOptimizers = "optimizers"

func knownOptions() []string {
	return []string{hostkit.OptLookback, hostkit.OptDelayedNameRemoval, OptOptimizers}
}

// identity is an optimizer that changes nothing. "none" needs it: engine.New replaces an
// empty LogicalOptimizers list (logicalplan.NoOptimizers included) with the defaults, so
// a list holding only this optimizer is how the engine runs with none.
type identity struct{}

func (identity) Optimize(plan logicalplan.Node, _ *query.Options) (logicalplan.Node, annotations.Annotations) {
	return plan, nil
}

// optimizers returns the optimizer list for the optimizers option and its effective name.
func optimizers(o *hostkit.Options) ([]logicalplan.Optimizer, string, error) {
	switch v := o.String(OptOptimizers, "default"); v {
	case "default":
		return nil, v, nil
	case "all":
		return logicalplan.AllOptimizers, v, nil
	case "none":
		return []logicalplan.Optimizer{identity{}}, v, nil
	default:
		return nil, "", fmt.Errorf("option optimizers=%q: expected default, all or none", v)
	}
}
