package main

import (
	"context"
	"fmt"
	"time"

	"github.com/grafana/mimir/pkg/querier/stats"
	"github.com/grafana/mimir/pkg/streamingpromql"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
)

func main() {
	opts := streamingpromql.NewTestEngineOpts()
	planner, err := streamingpromql.NewQueryPlanner(opts, streamingpromql.NewMaximumSupportedVersionQueryPlanVersionProvider())
	if err != nil {
		panic(err)
	}
	mqe, err := streamingpromql.NewEngine(opts, stats.NewQueryMetrics(nil), planner)
	if err != nil {
		panic(err)
	}
	prom := promql.NewEngine(opts.CommonOpts)
	_ = promqltest.LoadedStorage
	_ = prom
	q, err := mqe.NewInstantQuery(context.Background(), nil, nil, "1+1", time.Unix(0, 0))
	if err != nil {
		panic(err)
	}
	fmt.Println(q.Exec(context.Background()).String())
	q.Close()
}
