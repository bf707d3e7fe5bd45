package main

import (
	"fmt"

	"github.com/thanos-io/promql-engine/logicalplan"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// OptOptimizers picks the Thanos engine's logical optimizers (docs/engines.md):
// default (logicalplan.DefaultOptimizers, what engine.New runs when Opts.LogicalOptimizers
// is empty), all (logicalplan.AllOptimizers: the defaults plus PropagateMatchersOptimizer,
// as the engine's own tests run it) or none (compat.go's noOptimizers).
const OptOptimizers = "optimizers"

func knownOptions() []string {
	return []string{hostkit.OptLookback, hostkit.OptDelayedNameRemoval, OptOptimizers}
}

// optimizers returns the optimizer list for the optimizers option and its effective name.
func optimizers(o *hostkit.Options) ([]logicalplan.Optimizer, string, error) {
	switch v := o.String(OptOptimizers, "default"); v {
	case "default":
		return nil, v, nil
	case "all":
		return allOptimizers(), v, nil
	case "none":
		return noOptimizers(), v, nil
	default:
		return nil, "", fmt.Errorf("option optimizers=%q: expected default, all or none", v)
	}
}
