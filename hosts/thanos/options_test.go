package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/thanos-io/promql-engine/engine"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// explain prints the Thanos engine's operator tree for q under the options kv.
func explain(t *testing.T, kv map[string]string, q string) string {
	t.Helper()
	o := hostkit.NewOptions(kv)
	h, err := newHost(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Check(knownOptions()); err != nil {
		t.Fatal(err)
	}
	st := promqltest.LoadedStorage(t, "load 1m\n  foo{a=\"1\",c=\"2\"} 1 2\n  bar{a=\"1\"} 3 4\n")
	qry, err := h.Engines[0].Engine.NewInstantQuery(context.Background(), st, nil, q, time.Unix(60, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer qry.Close()
	b, _ := json.Marshal(qry.(engine.ExplainableQuery).Explain())
	return string(b)
}

// The optimizers option reaches the engine: with none the selector keeps the query's
// matcher order (SortMatchers, a default optimizer, did not run), default sorts it, and
// only all propagates foo's matcher a="1" to bar across the on(a) match
// (PropagateMatchersOptimizer).
func TestOptimizersOptionChangesThePlan(t *testing.T) {
	q := `foo{c="2",a="1"} + on(a) bar`
	none, def, all := explain(t, map[string]string{OptOptimizers: "none"}, q), explain(t, nil, q), explain(t, map[string]string{OptOptimizers: "all"}, q)
	unsorted, sorted, propagated := `c=\"2\" a=\"1\" __name__=\"foo\"`, `__name__=\"foo\" a=\"1\" c=\"2\"`, `__name__=\"bar\" a=\"1\"`
	if !strings.Contains(none, unsorted) || strings.Contains(none, propagated) {
		t.Errorf("optimizers=none: %s", none)
	}
	if !strings.Contains(def, sorted) || strings.Contains(def, propagated) {
		t.Errorf("optimizers=default: %s", def)
	}
	if !strings.Contains(all, sorted) || !strings.Contains(all, propagated) {
		t.Errorf("optimizers=all: %s", all)
	}
	if got := explain(t, map[string]string{OptOptimizers: "default"}, q); got != def {
		t.Errorf("optimizers=default differs from no option: %s", got)
	}
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

// delayed_name_removal reaches the Prometheus engine of this host (the Thanos engine has
// no such setting, and its config does not claim one).
func TestDelayedNameRemovalOptionChangesThePrometheusEngine(t *testing.T) {
	off, on := serveWith(t, nil), serveWith(t, map[string]string{hostkit.OptDelayedNameRemoval: "true"})
	req := hostkit.QueryRequest{Query: `label_replace(abs(a{job="y"}), "copy", "$1", "__name__", "(.*)")`, Time: "60"}
	if _, env := run(t, off, EnginePrometheus, req); strings.Contains(string(env.Data.Result), "copy") {
		t.Errorf("default: %s", env.Data.Result)
	}
	if _, env := run(t, on, EnginePrometheus, req); !strings.Contains(string(env.Data.Result), `"copy":"a"`) {
		t.Errorf("delayed name removal: %s", env.Data.Result)
	}
	h, err := newHost(hostkit.NewOptions(map[string]string{hostkit.OptDelayedNameRemoval: "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, claimed := h.Engines[0].Config[hostkit.OptDelayedNameRemoval]; claimed || h.Engines[1].Config[hostkit.OptDelayedNameRemoval] != "true" {
		t.Errorf("configs: %v", h.Engines)
	}
}

func TestBadOptimizersOption(t *testing.T) {
	if _, err := newHost(hostkit.NewOptions(map[string]string{OptOptimizers: "some"})); err == nil || !strings.Contains(err.Error(), "expected default, all or none") {
		t.Errorf("optimizers=some: %v", err)
	}
}
