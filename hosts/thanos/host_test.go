package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
	"github.com/promfuzz/promfuzz/hosts/hostkit/hostkittest"
)

// The fixture (floats, a stale marker, a gap, native histograms) and the helpers are
// shared with the other hosts' tests.
type envelope = hostkittest.Envelope

var (
	run         = hostkittest.Run
	compactJSON = hostkittest.CompactJSON
)

func newTestServer(t *testing.T) *hostkit.Server {
	t.Helper()
	return serveWith(t, nil)
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

var bothEngines = []string{EngineThanos, EnginePrometheus}

func TestBothEnginesGiveTheExpectedResultsOnTheFixture(t *testing.T) {
	srv := newTestServer(t)
	cases := []struct {
		name     string
		req      hostkit.QueryRequest
		resType  string
		result   string
		warnings []string
		infos    []string
		// thanosWarnings/thanosInfos, when set, are what the Thanos engine says instead:
		// it reports the position of the whole call, not of the offending argument.
		thanosWarnings []string
		thanosInfos    []string
	}{
		{
			name:    "stale marker hides the series",
			req:     hostkit.QueryRequest{Query: "a", Time: "180"},
			resType: "vector",
			result:  `[{"metric":{"__name__":"a","job":"y"},"value":[180,"30"]}]`,
		},
		{
			name:    "gap falls back within the lookback",
			req:     hostkit.QueryRequest{Query: "a", Time: "330"},
			resType: "vector",
			result:  `[{"metric":{"__name__":"a","job":"x"},"value":[330,"5"]},{"metric":{"__name__":"a","job":"y"},"value":[330,"50"]}]`,
		},
		{
			name:    "range sum",
			req:     hostkit.QueryRequest{Query: "sum(a)", Start: "0", End: "360", Step: "120"},
			resType: "matrix",
			result:  `[{"metric":{},"values":[[0,"1"],[120,"23"],[240,"45"],[360,"67"]]}]`,
		},
		{
			name:    "range skips the stale step",
			req:     hostkit.QueryRequest{Query: `a{job="x"}`, Start: "120", End: "240", Step: "60"},
			resType: "matrix",
			result:  `[{"metric":{"__name__":"a","job":"x"},"values":[[120,"3"],[240,"5"]]}]`,
		},
		{
			name:    "native histogram sample",
			req:     hostkit.QueryRequest{Query: "h", Time: "120"},
			resType: "vector",
			result:  `[{"metric":{"__name__":"h","job":"x"},"histogram":[120,{"count":"6","sum":"7","buckets":[[0,"0.5","1","1"],[0,"1","2","4"],[0,"2","4","1"]]}]}]`,
		},
		{
			name:    "histogram function",
			req:     hostkit.QueryRequest{Query: "histogram_count(h)", Time: "240"},
			resType: "vector",
			result:  `[{"metric":{"job":"x"},"value":[240,"8"]}]`,
		},
		{
			name:           "warning annotation",
			req:            hostkit.QueryRequest{Query: "quantile(2, a)", Time: "240"},
			resType:        "vector",
			result:         `[{"metric":{},"value":[240,"+Inf"]}]`,
			warnings:       []string{"PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)"},
			thanosWarnings: []string{"PromQL warning: quantile value should be between 0 and 1, got 2 (1:1)"},
		},
		{
			name:        "info annotation",
			req:         hostkit.QueryRequest{Query: `rate(a{job="y"}[5m])`, Time: "300"},
			resType:     "vector",
			result:      `[{"metric":{"job":"y"},"value":[300,"0.16666666666666666"]}]`,
			infos:       []string{`PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "a" (1:6)`},
			thanosInfos: []string{`PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "a" (1:1)`},
		},
		{
			name:    "experimental function",
			req:     hostkit.QueryRequest{Query: `mad_over_time(a{job="y"}[5m])`, Time: "240"},
			resType: "vector",
			result:  `[{"metric":{"job":"y"},"value":[240,"10"]}]`,
		},
		{
			name:    "duration expression",
			req:     hostkit.QueryRequest{Query: `a{job="y"} offset (1m + 1m)`, Time: "240"},
			resType: "vector",
			result:  `[{"metric":{"__name__":"a","job":"y"},"value":[240,"20"]}]`,
		},
	}
	for _, tc := range cases {
		for _, eng := range bothEngines {
			t.Run(tc.name+"/"+eng, func(t *testing.T) {
				status, env := run(t, srv, eng, tc.req)
				if status != http.StatusOK || env.Status != "success" || env.Data == nil {
					t.Fatalf("want success, got %d %s %s: %s", status, env.ErrorType, env.Status, env.Error)
				}
				if env.Data.ResultType != tc.resType {
					t.Errorf("resultType %q, want %q", env.Data.ResultType, tc.resType)
				}
				if got, want := compactJSON(t, string(env.Data.Result)), compactJSON(t, tc.result); got != want {
					t.Errorf("result\n got %s\nwant %s", got, want)
				}
				wantWarnings, wantInfos := tc.warnings, tc.infos
				if eng == EngineThanos && tc.thanosWarnings != nil {
					wantWarnings = tc.thanosWarnings
				}
				if eng == EngineThanos && tc.thanosInfos != nil {
					wantInfos = tc.thanosInfos
				}
				if strings.Join(env.Warnings, "\n") != strings.Join(wantWarnings, "\n") {
					t.Errorf("warnings %q, want %q", env.Warnings, wantWarnings)
				}
				if strings.Join(env.Infos, "\n") != strings.Join(wantInfos, "\n") {
					t.Errorf("infos %q, want %q", env.Infos, wantInfos)
				}
				if env.HostStats.Unsupported {
					t.Error("hostStats.unsupported set on a successful answer")
				}
			})
		}
	}
}

func TestBothEnginesGiveTheExpectedErrors(t *testing.T) {
	srv := newTestServer(t)
	cases := []struct {
		name      string
		req       hostkit.QueryRequest
		status    int
		errorType string
		contains  string
	}{
		{"duplicate labelset", hostkit.QueryRequest{Query: `label_replace(a, "job", "z", "", "")`, Time: "240"},
			422, "execution", "vector cannot contain metrics with the same labelset"},
		{"parse error", hostkit.QueryRequest{Query: "sum(", Time: "240"}, 400, "bad_data", "parse error"},
		{"zero step", hostkit.QueryRequest{Query: "a", Start: "0", End: "60", Step: "0"}, 400, "bad_data",
			"zero or negative query resolution step widths are not accepted"},
		{"too many points", hostkit.QueryRequest{Query: "a", Start: "0", End: "12000", Step: "1"}, 400, "bad_data",
			"exceeded maximum resolution of 11,000 points per timeseries"},
	}
	for _, tc := range cases {
		for _, eng := range bothEngines {
			t.Run(tc.name+"/"+eng, func(t *testing.T) {
				status, env := run(t, srv, eng, tc.req)
				if status != tc.status || env.Status != "error" || env.ErrorType != tc.errorType {
					t.Fatalf("got %d %s %q: %s, want %d %s", status, env.Status, env.ErrorType, env.Error, tc.status, tc.errorType)
				}
				if !strings.Contains(env.Error, tc.contains) {
					t.Errorf("error %q does not contain %q", env.Error, tc.contains)
				}
				if env.HostStats.Unsupported {
					t.Error("hostStats.unsupported set on an ordinary error")
				}
			})
		}
	}
}

func TestExpressionQuantileParameterIsUnsupportedInThanosOnly(t *testing.T) {
	srv := newTestServer(t)
	req := hostkit.QueryRequest{Query: `quantile_over_time(scalar(a{job="y"}) / 100, a[5m])`, Time: "240"}

	status, env := run(t, srv, EngineThanos, req)
	if status != 422 || env.ErrorType != "unsupported" || !env.HostStats.Unsupported {
		t.Fatalf("thanos: got %d %q unsupported=%t: %s", status, env.ErrorType, env.HostStats.Unsupported, env.Error)
	}

	// scalar(a{job="y"}) / 100 = 0.4 at 240: the 0.4-quantile of a{job="x"}'s 1 2 3 5 is
	// 2.2 and of a{job="y"}'s 0 10 20 30 40 is 16.
	status, env = run(t, srv, EnginePrometheus, req)
	if status != 200 || env.Data == nil {
		t.Fatalf("thanos-prometheus: got %d %q: %s", status, env.ErrorType, env.Error)
	}
	want := `[{"metric":{"job":"x"},"value":[240,"2.2"]},{"metric":{"job":"y"},"value":[240,"16"]}]`
	if got := compactJSON(t, string(env.Data.Result)); got != compactJSON(t, want) {
		t.Errorf("thanos-prometheus result %s, want %s", got, want)
	}
}

func TestHealthListsBothEnginesAndTheirModules(t *testing.T) {
	srv := newTestServer(t)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	var health struct {
		Engines []string          `json:"engines"`
		Modules map[string]string `json:"modules"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &health); err != nil {
		t.Fatal(err)
	}
	if strings.Join(health.Engines, ",") != "thanos,thanos-prometheus" {
		t.Errorf("engines %v", health.Engines)
	}
	if health.Modules["github.com/prometheus/prometheus"] != "v0.308.0" {
		t.Errorf("prometheus module %q, want v0.308.0", health.Modules["github.com/prometheus/prometheus"])
	}
	if health.Modules["github.com/thanos-io/promql-engine"] == "" {
		t.Errorf("no promql-engine version in %v", health.Modules)
	}
}

func TestParseAcceptsExperimentalSyntax(t *testing.T) {
	srv := newTestServer(t)
	for _, q := range []string{
		"rate(a[5m] anchored)",
		"rate(a[5m] smoothed)",
		"a offset (1m + 1m)",
		"mad_over_time(a[5m])",
		"limitk(1, a)",
	} {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/parse?query="+url.QueryEscape(q), nil))
		var resp struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Status != "success" {
			t.Errorf("parse %q: %s", q, resp.Error)
		}
	}
}

func TestThanosReportsTheSameSampleCountAsPrometheus(t *testing.T) {
	srv := newTestServer(t)
	for _, req := range []hostkit.QueryRequest{
		{Query: "a", Time: "240"},
		{Query: "rate(a[5m])", Start: "0", End: "360", Step: "60"},
		{Query: "sum(h)", Start: "0", End: "360", Step: "60"},
		{Query: "max_over_time(a[5m:30s])", Time: "240"},
	} {
		_, th := run(t, srv, EngineThanos, req)
		_, pr := run(t, srv, EnginePrometheus, req)
		if th.HostStats.Samples <= 0 || th.HostStats.Samples != pr.HostStats.Samples {
			t.Errorf("%q: thanos samples %d, thanos-prometheus %d", req.Query, th.HostStats.Samples, pr.HostStats.Samples)
		}
	}
}
