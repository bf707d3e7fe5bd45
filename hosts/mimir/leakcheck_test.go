// SPDX-License-Identifier: AGPL-3.0-only

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/grafana/mimir/pkg/util/limiter"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
	"github.com/promfuzz/promfuzz/hosts/hostkit/hostkittest"
)

// fakeEngine's queries account `hold` bytes on the context's tracker in Exec and give
// back `release` bytes in Close.
type fakeEngine struct {
	hold, release uint64
	fail          bool
}

type fakeQuery struct {
	promql.Query
	e       *fakeEngine
	tracker *limiter.MemoryConsumptionTracker
}

func (e *fakeEngine) NewInstantQuery(ctx context.Context, _ storage.Queryable, _ promql.QueryOpts, _ string, _ time.Time) (promql.Query, error) {
	tracker, err := limiter.MemoryConsumptionTrackerFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return &fakeQuery{e: e, tracker: tracker}, nil
}

func (e *fakeEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, _ time.Time, _ time.Duration) (promql.Query, error) {
	return e.NewInstantQuery(ctx, q, opts, qs, start)
}

func (q *fakeQuery) Exec(context.Context) *promql.Result {
	_ = q.tracker.IncreaseMemoryConsumption(q.e.hold, limiter.FPointSlices)
	if q.e.fail {
		return &promql.Result{Err: context.Canceled}
	}
	return &promql.Result{Value: promql.Vector{}}
}

func (q *fakeQuery) Close()         { q.tracker.DecreaseMemoryConsumption(q.e.release, limiter.FPointSlices) }
func (q *fakeQuery) String() string { return "fake" }

func runFake(t *testing.T, e *fakeEngine) string {
	t.Helper()
	var log bytes.Buffer
	eng := &leakCheckingEngine{inner: e, log: &log}
	ctx, _ := withMemoryTracker(context.Background())
	q, err := eng.NewInstantQuery(ctx, nil, nil, "fake", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	q.Exec(ctx)
	q.Close()
	return log.String()
}

func TestLeakCheckReportsMemoryLeftAfterClose(t *testing.T) {
	if got := runFake(t, &fakeEngine{hold: 64, release: 48}); !strings.Contains(got, "MQE pool leak") || !strings.Contains(got, "bytes=16") {
		t.Errorf("leak of 16 bytes not reported: %q", got)
	}
}

func TestLeakCheckIsQuietWhenEverythingIsReturned(t *testing.T) {
	if got := runFake(t, &fakeEngine{hold: 64, release: 64}); got != "" {
		t.Errorf("reported a leak where there is none: %q", got)
	}
}

func TestLeakCheckIgnoresFailedQueries(t *testing.T) {
	if got := runFake(t, &fakeEngine{hold: 64, release: 0, fail: true}); got != "" {
		t.Errorf("reported a leak for a failed query: %q", got)
	}
}

// MQE itself returns everything it takes on a varied set of queries over the fixture
// (what Mimir's pedantic mode checks); a failure here is an MQE pool leak, a finding.
func TestMQEReturnsAllPooledMemoryOnTheFixture(t *testing.T) {
	h, err := newHost(hostkit.NewOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	for i := range h.Engines {
		if lc, ok := h.Engines[i].Engine.(*leakCheckingEngine); ok {
			lc.log = &log
		}
	}
	srv := hostkittest.Serve(t, h)
	for _, q := range []string{
		"a", "sum by (job) (rate(a[5m]))", "histogram_quantile(0.5, rate(h[5m]))", "topk(1, a)",
		"a + on(job) group_left h", "max_over_time(a[5m:30s])", "count_values(\"v\", a)", "sort_desc(a)",
		"avg_over_time(h[5m])", "label_replace(a, \"j\", \"$1\", \"job\", \"(.*)\")", "absent(nope)",
	} {
		for _, req := range []hostkit.QueryRequest{{Query: q, Time: "240"}, {Query: q, Start: "0", End: "360", Step: "30"}} {
			status, body := srv.Run(EngineMQE, req, false)
			if status != 200 {
				t.Fatalf("%q: %d %s", q, status, body)
			}
		}
	}
	if log.Len() > 0 {
		t.Errorf("MQE leaked pooled memory:\n%s", log.String())
	}
}
