package hostkit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/annotations"
)

// Error types of the API envelope (Prometheus's plus ours).
const (
	ErrBadData     = "bad_data"
	ErrExecution   = "execution"
	ErrTimeout     = "timeout"
	ErrCanceled    = "canceled"
	ErrInternal    = "internal"
	ErrEnginePanic = "engine_panic"
	ErrUnsupported = "unsupported"
)

// httpStatus follows Prometheus's getDefaultErrorCode; engine_panic answers 500 and
// unsupported 422 (an execution-class answer).
func httpStatus(errorType string) int {
	switch errorType {
	case "":
		return http.StatusOK
	case ErrBadData:
		return http.StatusBadRequest
	case ErrExecution, ErrUnsupported:
		return http.StatusUnprocessableEntity
	case ErrCanceled:
		return 499
	case ErrTimeout:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// QueryRequest is one query: instant when Start is empty, range otherwise. Values are the
// Prometheus API's strings (float seconds or RFC 3339 times, durations as float seconds or
// Prometheus durations).
type QueryRequest struct {
	Query   string `json:"query"`
	Time    string `json:"time,omitempty"`
	Start   string `json:"start,omitempty"`
	End     string `json:"end,omitempty"`
	Step    string `json:"step,omitempty"`
	Timeout string `json:"timeout,omitempty"`
	// Range is set by the /api/v1/query_range handler; batch queries are range queries
	// when they have a start.
	Range bool `json:"-"`
	// DigestOnly (batches with "bodies":"none") hashes the result instead of encoding it:
	// the answer carries its digest and no body.
	DigestOnly bool `json:"-"`
}

// HostStats is the hostStats object of every query answer.
type HostStats struct {
	WallNs      int64 `json:"wallNs"`
	EngineNs    int64 `json:"engineNs"`
	AllocBytes  int64 `json:"allocBytes"`
	PeakBytes   int64 `json:"peakBytes"`
	Samples     int64 `json:"samples"`
	Unsupported bool  `json:"unsupported"`
}

// answer is one query's outcome before encoding.
type answer struct {
	errorType string
	err       string
	result    *bytes.Buffer // data.result JSON
	// resultDigest replaces result for DigestOnly requests (valueDigest of the value).
	resultDigest []byte
	resType      string
	warnings     []string
	infos        []string
	stats        HostStats
}

func (a *answer) status() int { return httpStatus(a.errorType) }

// encode writes the API envelope with hostStats. hostStats.digest is a hash of the
// envelope bytes before hostStats, so a client can tell two engines gave byte-identical
// answers without decoding them (the campaign's fast path for matches).
func (a *answer) encode(w *bytes.Buffer) {
	digest := a.encodeEnvelope(w)
	w.WriteString(`,"hostStats":`)
	a.encodeStats(w, digest)
	w.WriteByte('}')
}

// encodeEnvelope writes the API envelope without its closing brace and returns the
// digest of the bytes written.
func (a *answer) encodeEnvelope(w *bytes.Buffer) [12]byte {
	start := w.Len()
	if a.errorType != "" {
		w.WriteString(`{"status":"error","errorType":`)
		writeJSONString(w, a.errorType)
		w.WriteString(`,"error":`)
		writeJSONString(w, a.err)
	} else {
		w.WriteString(`{"status":"success","data":{"resultType":`)
		writeJSONString(w, a.resType)
		if a.resultDigest != nil {
			// Never sent: the digest of a DigestOnly answer covers this stand-in.
			fmt.Fprintf(w, `,"resultDigest":"%x"`, a.resultDigest)
		} else {
			w.WriteString(`,"result":`)
			w.Write(a.result.Bytes())
		}
		w.WriteByte('}')
		writeStringList(w, "warnings", a.warnings)
		writeStringList(w, "infos", a.infos)
	}
	sum := sha256.Sum256(w.Bytes()[start:])
	var d [12]byte
	copy(d[:], sum[:12])
	return d
}

func (a *answer) encodeStats(w *bytes.Buffer, digest [12]byte) {
	fmt.Fprintf(w, `{"wallNs":%d,"engineNs":%d,"allocBytes":%d,"peakBytes":%d,"samples":%d,"unsupported":%t,"digest":"%x"}`,
		a.stats.WallNs, a.stats.EngineNs, a.stats.AllocBytes, a.stats.PeakBytes, a.stats.Samples, a.stats.Unsupported, digest[:])
}

// encodeLine writes one answer of a "lines" batch: the hostStats object, a tab, the
// envelope (without hostStats; omitted with noBody) and a newline. JSON escapes every
// control character, so neither part holds a raw tab or newline.
func (a *answer) encodeLine(w *bytes.Buffer, noBody bool) {
	var env bytes.Buffer
	digest := a.encodeEnvelope(&env)
	env.WriteByte('}')
	a.encodeStats(w, digest)
	w.WriteByte('\t')
	if !noBody {
		w.Write(env.Bytes())
	}
	w.WriteByte('\n')
}

func writeStringList(w *bytes.Buffer, key string, items []string) {
	if len(items) == 0 {
		return
	}
	w.WriteString(`,"` + key + `":[`)
	for i, s := range items {
		if i > 0 {
			w.WriteByte(',')
		}
		writeJSONString(w, s)
	}
	w.WriteByte(']')
}

func badData(format string, args ...any) *answer {
	return &answer{errorType: ErrBadData, err: fmt.Sprintf(format, args...)}
}

// ---------------------------------------------------------------------------- params

var (
	minTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()
)

// parseTime is the Prometheus API's parseTime.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		s, ns := math.Modf(t)
		ns = math.Round(ns*1000) / 1000
		return time.Unix(int64(s), int64(ns*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case minTime.Format(time.RFC3339Nano):
		return minTime, nil
	case maxTime.Format(time.RFC3339Nano):
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseDuration is the Prometheus API's parseDuration.
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if math.IsNaN(ts) || ts >= float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// ---------------------------------------------------------------------------- execution

// readAllocBytes returns the bytes allocated on the heap so far. runtime.ReadMemStats
// flushes every P's allocation cache first, so the difference of two readings counts a
// small query's allocations exactly; runtime/metrics' /gc/heap/allocs:bytes only moves
// when a cache span is refilled and reads 0 for queries that fit in the cached spans
// (seen in CI). The cost is a short stop-the-world, ~7 µs per reading on the CI machine.
func readAllocBytes() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.TotalAlloc)
}

// runQuery validates the request like Prometheus's HTTP layer, runs it on the engine over
// the store, and returns the answer with statistics. It never panics.
func runQuery(ctx context.Context, eng *Engine, st *store, req QueryRequest, full bool) *answer {
	wallStart := time.Now()
	a := prepareAndRun(ctx, eng, st, req, full)
	a.stats.WallNs = time.Since(wallStart).Nanoseconds()
	return a
}

func prepareAndRun(ctx context.Context, eng *Engine, st *store, req QueryRequest, full bool) *answer {
	isRange := req.Range || req.Start != ""
	var ts, start, end time.Time
	var step time.Duration
	var err error
	if isRange {
		if start, err = parseTime(req.Start); err != nil {
			return badData("invalid parameter %q: %v", "start", err)
		}
		if end, err = parseTime(req.End); err != nil {
			return badData("invalid parameter %q: %v", "end", err)
		}
		if end.Before(start) {
			return badData("invalid parameter %q: %s", "end", "end timestamp must not be before start time")
		}
		if step, err = parseDuration(req.Step); err != nil {
			return badData("invalid parameter %q: %v", "step", err)
		}
		if step <= 0 {
			return badData("invalid parameter %q: %s", "step", "zero or negative query resolution step widths are not accepted. Try a positive integer")
		}
		if end.Sub(start)/step > MaxPoints {
			return badData("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
		}
	} else {
		ts = time.Now()
		if req.Time != "" {
			if ts, err = parseTime(req.Time); err != nil {
				return badData("invalid parameter %q: invalid time value for '%s': %v", "time", "time", err)
			}
		}
	}
	timeout := DefaultQueryTimeout
	if req.Timeout != "" {
		if timeout, err = parseDuration(req.Timeout); err != nil {
			return badData("invalid parameter %q: %v", "timeout", err)
		}
		if timeout <= 0 {
			return badData("invalid parameter %q: timeout must be positive, got %s", "timeout", timeout)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	a := &answer{}
	peak := func() int64 { return 0 }
	allocStart := readAllocBytes()
	engineStart := time.Now()
	func() {
		defer func() {
			if r := recover(); r != nil {
				a.errorType = ErrEnginePanic
				a.err = fmt.Sprintf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		if eng.Prepare != nil {
			ctx, peak = eng.Prepare(ctx)
		}
		var q promql.Query
		if isRange {
			q, err = eng.Engine.NewRangeQuery(ctx, st.db, nil, req.Query, start, end, step)
		} else {
			q, err = eng.Engine.NewInstantQuery(ctx, st.db, nil, req.Query, ts)
		}
		if err != nil {
			constructionError(a, eng, err)
			return
		}
		defer q.Close()
		res := q.Exec(ctx)
		a.stats.EngineNs = time.Since(engineStart).Nanoseconds()
		if res.Err != nil {
			execError(a, eng, res.Err)
			return
		}
		// Stats only after a successful Exec, as Prometheus's API does: MQE's
		// Query.Stats() dereferences per-query stats that a failed Exec never set.
		if s := q.Stats(); s != nil && s.Samples != nil {
			a.stats.Samples = s.Samples.TotalSamples
		}
		a.warnings, a.infos = splitAnnotations(res.Warnings, req.Query)
		if req.DigestOnly {
			d := valueDigest(res.Value)
			a.resultDigest = d[:]
			a.resType = string(res.Value.Type())
		} else {
			a.result = &bytes.Buffer{}
			a.resType = writeValue(a.result, res.Value, full)
		}
	}()
	if a.stats.EngineNs == 0 {
		a.stats.EngineNs = time.Since(engineStart).Nanoseconds()
	}
	a.stats.AllocBytes = readAllocBytes() - allocStart
	func() {
		defer func() { _ = recover() }()
		a.stats.PeakBytes = peak()
	}()
	return a
}

// constructionError maps an error from NewInstantQuery/NewRangeQuery as Prometheus's API
// does (timeouts and cancellations as such, everything else a bad "query" parameter).
func constructionError(a *answer, eng *Engine, err error) {
	if eng.IsUnsupported != nil && eng.IsUnsupported(err) {
		a.errorType, a.err, a.stats.Unsupported = ErrUnsupported, err.Error(), true
		return
	}
	var eqt promql.ErrQueryTimeout
	var eqc promql.ErrQueryCanceled
	if errors.As(err, &eqt) || errors.As(err, &eqc) {
		execError(a, eng, err)
		return
	}
	a.errorType, a.err = ErrBadData, fmt.Sprintf("invalid parameter %q: %v", "query", err)
}

// execError maps an Exec error as Prometheus's returnAPIError does, plus plain context
// errors (engines other than Prometheus's) and the engine's "unsupported" errors.
func execError(a *answer, eng *Engine, err error) {
	a.err = err.Error()
	var eqc promql.ErrQueryCanceled
	var eqt promql.ErrQueryTimeout
	var es promql.ErrStorage
	switch {
	case eng.IsUnsupported != nil && eng.IsUnsupported(err):
		a.errorType, a.stats.Unsupported = ErrUnsupported, true
	case errors.As(err, &eqc):
		a.errorType = ErrCanceled
	case errors.As(err, &eqt):
		a.errorType = ErrTimeout
	case errors.As(err, &es):
		a.errorType = ErrInternal
	case errors.Is(err, context.DeadlineExceeded):
		a.errorType = ErrTimeout
	case errors.Is(err, context.Canceled):
		a.errorType = ErrCanceled
	default:
		a.errorType = ErrExecution
	}
}

// splitAnnotations splits annotations into warnings and infos (no limit on their number,
// unlike Prometheus's 10) and sorts each list so answers are deterministic.
func splitAnnotations(annos annotations.Annotations, query string) (warnings, infos []string) {
	if len(annos) == 0 {
		return nil, nil
	}
	warnings, infos = annos.AsStrings(query, 0, 0)
	sort.Strings(warnings)
	sort.Strings(infos)
	return warnings, infos
}
