// Package hostkit is everything the promfuzz engine hosts share: the process protocol,
// the HTTP server and every endpoint of docs/host-protocol.md, Prometheus-compatible JSON
// encoding of results, per-query statistics, panic recovery, timeouts and the range checks
// Prometheus does in its HTTP layer.
//
// A host is a small main package in its own Go module (hosts/prometheus, hosts/mimir,
// hosts/thanos) that selects a Prometheus version (upstream, Mimir's fork, or the older one
// the Thanos engine needs), builds its engines, and hands them to hostkit:
//
//	func main() {
//		parse := func(q string) (parser.Expr, error) { return myParser.ParseExpr(q) }
//		opts := hostkit.EngineOpts()          // lookback, @, negative offset, MaxSamples, ...
//		opts.Parser = myParser                // whatever this Prometheus version needs
//		hostkit.Main(hostkit.Host{
//			Engines: []hostkit.Engine{{Name: "prometheus", Engine: promql.NewEngine(opts)}},
//			Parse:   parse,
//		})
//	}
//
// Only what differs between Prometheus versions is supplied by the host: engine
// construction, the parser call (and its options), optionally the function table and an
// engine's "unsupported" test or memory report. hostkit itself only uses API that is the
// same in v0.308.0, v0.316.0 and Mimir's fork: storage (tsdb.Open, Appender), promqltest's
// LazyLoader, promql value types, parser types and annotations.
//
// hostkit never compares results: it loads data, runs queries and serializes answers.
package hostkit

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// Shared engine configuration (docs/host-protocol.md): every engine of every host is
// configured with these values.
const (
	// LookbackDelta is the staleness lookback of every engine.
	LookbackDelta = 5 * time.Minute
	// MaxSamples is the engines' sample limit.
	MaxSamples = 50_000_000
	// SubqueryStepMs is the default subquery step when a subquery has none ([30m:]).
	SubqueryStepMs = 60_000
	// DefaultQueryTimeout applies when a request has no timeout parameter.
	DefaultQueryTimeout = 10 * time.Second
	// EngineTimeout is the engine-level timeout; the per-query timeout is a context
	// deadline, so this only needs to be longer than any request timeout.
	EngineTimeout = 24 * time.Hour
	// MaxPoints is the API's limit on points per series of a range query.
	MaxPoints = 11000
)

// NoStepSubqueryInterval is the NoStepSubqueryIntervalFn every engine uses.
func NoStepSubqueryInterval(int64) int64 { return SubqueryStepMs }

// EngineOpts returns Prometheus engine options with the shared configuration filled in
// (fresh registry, stderr logger at warn level, lookback, MaxSamples, @ modifier,
// negative offsets, default subquery step). Hosts add what their version needs
// (for example the Parser field in v0.316.0) and pass it to promql.NewEngine, or embed
// it in another engine's configuration (MQE).
func EngineOpts() promql.EngineOpts {
	return promql.EngineOpts{
		Logger:                   Logger(),
		Reg:                      prometheus.NewRegistry(),
		MaxSamples:               MaxSamples,
		Timeout:                  EngineTimeout,
		LookbackDelta:            LookbackDelta,
		NoStepSubqueryIntervalFn: NoStepSubqueryInterval,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
	}
}

// Logger is the stderr logger (warn level) hosts should give their engines.
func Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Engine is one PromQL engine a host exposes under a name.
type Engine struct {
	// Name is the value of the engine= request parameter ("prometheus", "mqe", ...).
	Name string
	// Engine runs queries. hostkit passes nil QueryOpts, so the engine's defaults apply.
	Engine promql.QueryEngine
	// IsUnsupported, if set, reports whether an error (from query construction or Exec)
	// is the engine's "this query is not supported" error. Such answers get
	// errorType "unsupported" and hostStats.unsupported = true.
	IsUnsupported func(err error) bool
	// Prepare, if set, is called before each query. It may decorate the context (for
	// example with a memory tracker) and returns a function that hostkit calls after
	// Exec, which reports the engine's peak memory estimate in bytes (0 if unknown).
	Prepare func(ctx context.Context) (context.Context, func() int64)
	// Config is the engine's effective configuration as option name -> value (the
	// defaults filled in), reported in the ready line and /health under "configs".
	Config map[string]string
}

// Host is what a host's main package supplies.
type Host struct {
	// Engines in the order /health lists them; the first is the default engine when a
	// request names none and there is only one.
	Engines []Engine
	// Parse parses a query with the same options as the engines (used by /api/v1/parse).
	Parse func(query string) (parser.Expr, error)
	// Functions is the parser's function table; nil means parser.Functions.
	Functions map[string]*parser.Function
	// ModulePaths are the module paths whose versions /health and the ready line report.
	// Nil means DefaultModulePaths(). A replaced module is reported as "path version" of
	// its replacement.
	ModulePaths []string
	// Routes adds host-specific endpoints (e.g. the Mimir host's /generate) to the mux after
	// the protocol's own; nil adds none.
	Routes func(s *Server, mux *http.ServeMux)
}

// DefaultModulePaths returns the modules reported when Host.ModulePaths is nil.
func DefaultModulePaths() []string {
	return []string{
		"github.com/prometheus/prometheus",
		"github.com/grafana/mimir",
		"github.com/thanos-io/promql-engine",
		"github.com/thanos-io/thanos",
	}
}
