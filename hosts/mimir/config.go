// SPDX-License-Identifier: AGPL-3.0-only

package main

import (
	"fmt"
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

// knownOptions is every option this host reads, for the unknown-option message.
func knownOptions() []string {
	out := []string{hostkit.OptLookback, hostkit.OptDelayedNameRemoval, OptPasses}
	for _, p := range passes {
		out = append(out, OptPassPrefix+p.name)
	}
	return out
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
	for _, name := range []string{"subset_selector_elimination", "multi_aggregation"} {
		if passOn(o, name) && !passOn(o, "common_subexpression_elimination") {
			return nil, fmt.Errorf("pass %s needs common_subexpression_elimination (Mimir's planner refuses it alone)", name)
		}
	}
	config := map[string]string{}
	for _, p := range passes {
		config[OptPassPrefix+p.name] = hostkit.FormatBool(*p.on(o))
	}
	return config, nil
}

// passOn reports whether the named pass is on in o (false for a name this Mimir lacks).
func passOn(o *streamingpromql.EngineOpts, name string) bool {
	for _, p := range passes {
		if p.name == name {
			return *p.on(o)
		}
	}
	return false
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
