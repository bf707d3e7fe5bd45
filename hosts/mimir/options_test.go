// SPDX-License-Identifier: AGPL-3.0-only

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/grafana/mimir/pkg/streamingpromql"
	"github.com/grafana/mimir/pkg/streamingpromql/types"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
	"github.com/promfuzz/promfuzz/hosts/hostkit/hostkittest"
)

// planFor prints MQE's query plan for q under the options kv, through the same
// configuration path the host uses (mqeOptions).
func planFor(t *testing.T, kv map[string]string, q string) string {
	t.Helper()
	common := hostkit.EngineOpts()
	common.Parser = parser.NewParser(parserOptions())
	o := hostkit.NewOptions(kv)
	if _, err := hostkit.ApplyCommonOptions(o, &common, false); err != nil {
		t.Fatal(err)
	}
	mopts, _, err := mqeOptions(common, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Check(knownOptions()); err != nil {
		t.Fatal(err)
	}
	planner, err := streamingpromql.NewQueryPlanner(mopts, streamingpromql.NewMaximumSupportedVersionQueryPlanVersionProvider())
	if err != nil {
		t.Fatal(err)
	}
	p, err := planner.NewQueryPlan(context.Background(), q, types.NewInstantQueryTimeRange(timestamp.Time(0)), 5*time.Minute, common.EnableDelayedNameRemoval, streamingpromql.NoopPlanningObserver{})
	if err != nil {
		t.Fatalf("plan %q: %v", q, err)
	}
	return p.String()
}

// passCases: for each switchable pass, a query whose plan shows the pass's work, and a
// fragment of the plan printout that is there only with the pass on (onHas) or only with
// it off. The queries come from the passes' own tests in Mimir
// (pkg/streamingpromql/optimize/...); the findings in issue 13 name the first three.
var passCases = map[string]struct {
	query, fragment string
	onHas           bool
}{
	"prune_toggles":                       {`foo and on () vector(1) == 1`, "vector(...)", false},
	"reduce_matchers":                     {`absent_over_time({job="b:1",job=~"b.*"}[1m])`, `job=~"b.*"`, false},
	"eliminate_deduplicate_and_merge":     {`ceil(count_values("__name__", x))`, "DeduplicateAndMerge", false},
	"remove_statically_empty_expressions": {`timestamp(foo) < -1000`, "NoOp", true},
	"projection_pushdown":                 {`ceil(count_values("__name__", x))`, ", include (", true},
	"common_subexpression_elimination":    {`sum(rate(foo[5m])) + max(rate(foo[5m]))`, "Duplicate", true},
	"subset_selector_elimination":         {`foo{a="1"} + foo{a="1",b="2"}`, "subsets:", true},
	"multi_aggregation":                   {`sum(rate(foo[5m])) + max(rate(foo[5m]))`, "MultiAggregation", true},
	"narrow_binary_selectors":             {`foo{a="1"} + on (a) bar`, ", hints (", true},
}

// Each pass option reaches the planner: the pass's node appears in (or disappears from)
// the plan exactly when the option turns it on, from a base of no passes (plus common
// subexpression elimination for the passes that need it).
func TestEachPassOptionChangesThePlan(t *testing.T) {
	if len(passCases) != len(passes) {
		t.Fatalf("%d pass cases for %d passes", len(passCases), len(passes))
	}
	for _, p := range passes {
		c, ok := passCases[p.name]
		if !ok {
			t.Fatalf("no plan case for pass %s", p.name)
		}
		off := map[string]string{OptPasses: "none"}
		if p.name == "subset_selector_elimination" || p.name == "multi_aggregation" {
			off[OptPassPrefix+"common_subexpression_elimination"] = "true"
		}
		on := map[string]string{OptPassPrefix + p.name: "true"}
		for k, v := range off {
			on[k] = v
		}
		planOff, planOn := planFor(t, off, c.query), planFor(t, on, c.query)
		if strings.Contains(planOn, c.fragment) != c.onHas || strings.Contains(planOff, c.fragment) == c.onHas {
			t.Errorf("pass %s, %q: fragment %q expected only with the pass %s\noff:\n%s\non:\n%s",
				p.name, c.query, c.fragment, map[bool]string{true: "on", false: "off"}[c.onHas], planOff, planOn)
		}
		// The pass off on top of everything else removes its work too.
		all := map[string]string{OptPasses: "all"}
		allBut := map[string]string{OptPasses: "all", OptPassPrefix + p.name: "false"}
		if p.name == "common_subexpression_elimination" {
			allBut[OptPassPrefix+"subset_selector_elimination"] = "false"
			allBut[OptPassPrefix+"multi_aggregation"] = "false"
		}
		if planFor(t, all, c.query) == planFor(t, allBut, c.query) {
			t.Errorf("pass %s off on top of passes=all leaves the plan of %q unchanged", p.name, c.query)
		}
	}
}

// The defaults are Mimir's flag defaults (pinned Mimir: narrow binary selectors,
// subset selector elimination and projection pushdown off, the rest on), and
// passes=all is what the host ran before: every pass on.
func TestDefaultsAreMimirsFlagDefaults(t *testing.T) {
	h, err := newHost(hostkit.NewOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := "delayed_name_removal=false,lookback=5m," +
		"pass.common_subexpression_elimination=true,pass.eliminate_deduplicate_and_merge=true," +
		"pass.multi_aggregation=true,pass.narrow_binary_selectors=false,pass.projection_pushdown=false," +
		"pass.prune_toggles=true,pass.reduce_matchers=true,pass.remove_statically_empty_expressions=true," +
		"pass.subset_selector_elimination=false"
	if got := sortedConfig(h.Engines[0].Config); got != want {
		t.Fatalf("default MQE config:\n got %s\nwant %s", got, want)
	}
	if got := sortedConfig(h.Engines[1].Config); got != "delayed_name_removal=false,lookback=5m" {
		t.Fatalf("default mimir-prometheus config: %s", got)
	}
	for _, p := range passes {
		def, flagName := passDefault(p.name)
		if got := h.Engines[0].Config[OptPassPrefix+p.name]; got != hostkit.FormatBool(def) || flagName == "" {
			t.Errorf("pass %s: config %s, Mimir's %s default %v", p.name, got, flagName, def)
		}
	}
	if got := planFor(t, nil, `foo{a="1"} + on (a) bar`); strings.Contains(got, "hints") {
		t.Errorf("narrow binary selectors ran by default:\n%s", got)
	}
	if got := planFor(t, map[string]string{OptPasses: "all"}, `foo{a="1"} + on (a) bar`); !strings.Contains(got, "hints") {
		t.Errorf("passes=all did not run narrow binary selectors:\n%s", got)
	}
}

func serveWith(t *testing.T, kv map[string]string) *hostkit.Server {
	t.Helper()
	o := hostkit.NewOptions(kv)
	h, err := newHost(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Check(knownOptions()); err != nil {
		t.Fatal(err)
	}
	return hostkittest.Serve(t, h)
}

// a{job="x"}'s last sample before 330s is at 240s: the default 5m lookback sees it, 30s
// does not, on both engines.
func TestLookbackOptionChangesAnswers(t *testing.T) {
	def, short := serveWith(t, nil), serveWith(t, map[string]string{hostkit.OptLookback: "30s"})
	req := hostkit.QueryRequest{Query: `a{job="x"}`, Time: "330"}
	for _, eng := range bothEngines {
		if _, env := run(t, def, eng, req); !strings.Contains(string(env.Data.Result), `"value":[330,"5"]`) {
			t.Errorf("%s default lookback: %s", eng, env.Data.Result)
		}
		if _, env := run(t, short, eng, req); string(env.Data.Result) != "[]" {
			t.Errorf("%s lookback 30s: %s", eng, env.Data.Result)
		}
	}
}

// With delayed name removal, label_replace still sees __name__ after abs(), on both
// engines (MQE through its limits, the fork's engine through EnableDelayedNameRemoval).
func TestDelayedNameRemovalOptionChangesAnswers(t *testing.T) {
	off, on := serveWith(t, nil), serveWith(t, map[string]string{hostkit.OptDelayedNameRemoval: "true"})
	req := hostkit.QueryRequest{Query: `label_replace(abs(a{job="y"}), "copy", "$1", "__name__", "(.*)")`, Time: "60"}
	for _, eng := range bothEngines {
		if _, env := run(t, off, eng, req); strings.Contains(string(env.Data.Result), "copy") {
			t.Errorf("%s default: %s", eng, env.Data.Result)
		}
		if _, env := run(t, on, eng, req); !strings.Contains(string(env.Data.Result), `"copy":"a"`) || strings.Contains(string(env.Data.Result), "__name__") {
			t.Errorf("%s delayed name removal: %s", eng, env.Data.Result)
		}
	}
}

func TestBadPassOptions(t *testing.T) {
	for kv, want := range map[[2]string]string{
		{"passes", "most"}:                           `passes="most": expected default, all or none`,
		{"pass.narrow_binary_selectors", "x"}:        "expected true or false",
		{"pass.subset_selector_elimination", "true"}: "",
	} {
		_, err := newHost(hostkit.NewOptions(map[string]string{kv[0]: kv[1]}))
		if want == "" {
			if err != nil {
				t.Errorf("%v: %v", kv, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: err %v, want %q", kv, err, want)
		}
	}
	_, err := newHost(hostkit.NewOptions(map[string]string{"pass.common_subexpression_elimination": "false"}))
	if err == nil || !strings.Contains(err.Error(), "multi_aggregation needs common_subexpression_elimination") {
		t.Errorf("CSE off with multi-aggregation on: %v", err)
	}
	o := hostkit.NewOptions(map[string]string{"pass.narrow_selectors": "true"})
	if _, err := newHost(o); err != nil {
		t.Fatal(err)
	}
	if err := o.Check(knownOptions()); err == nil || !strings.Contains(err.Error(), "pass.narrow_selectors") || !strings.Contains(err.Error(), "pass.narrow_binary_selectors") {
		t.Errorf("misspelt pass: %v", err)
	}
}
