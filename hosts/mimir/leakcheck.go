// SPDX-License-Identifier: AGPL-3.0-only

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/grafana/mimir/pkg/util/limiter"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
)

// leakCheckingEngine wraps MQE with the check Mimir's pedantic mode does, without its
// panic: after Close of a query that succeeded, every pooled slice must be back, so the
// query's memory tracker (the one withMemoryTracker put in the context) must read 0.
// A non-zero reading is written to the log as an MQE pool leak, with the query.
type leakCheckingEngine struct {
	inner promql.QueryEngine
	log   io.Writer
}

func (e *leakCheckingEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	query, err := e.inner.NewInstantQuery(ctx, q, opts, qs, ts)
	return e.wrap(ctx, query, err)
}

func (e *leakCheckingEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, interval time.Duration) (promql.Query, error) {
	query, err := e.inner.NewRangeQuery(ctx, q, opts, qs, start, end, interval)
	return e.wrap(ctx, query, err)
}

func (e *leakCheckingEngine) wrap(ctx context.Context, query promql.Query, err error) (promql.Query, error) {
	if err != nil {
		return nil, err
	}
	tracker, terr := trackerFromContext(ctx)
	if terr != nil {
		return query, nil // no tracker to read: nothing to check
	}
	return &leakCheckingQuery{Query: query, tracker: tracker, log: e.log}, nil
}

type leakCheckingQuery struct {
	promql.Query
	tracker   *limiter.MemoryConsumptionTracker
	log       io.Writer
	succeeded bool
	leaked    uint64
}

func (q *leakCheckingQuery) Exec(ctx context.Context) *promql.Result {
	res := q.Query.Exec(ctx)
	q.succeeded = res.Err == nil
	return res
}

func (q *leakCheckingQuery) Close() {
	q.Query.Close()
	// As in Mimir's pedantic mode, only successful queries are expected to return
	// everything: a failed query may leave memory accounted.
	if !q.succeeded {
		return
	}
	var detail string
	if q.leaked, detail = trackerBytes(q.tracker); q.leaked > 0 {
		fmt.Fprintf(q.log, "level=warn msg=\"MQE pool leak: memory still accounted after Close\" bytes=%d query=%q detail=%q\n",
			q.leaked, q.String(), detail)
	}
}
