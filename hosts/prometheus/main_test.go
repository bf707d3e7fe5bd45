package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// fixture is canonical dataset JSON (what promfuzz.model.Dataset.to_json() writes): floats,
// NaN/Inf, a stale marker, a gap, a float series without a counter suffix, and native
// histograms whose counter-reset hints are those the TSDB reports on read-back.
const fixture = `{"series":[` +
	`{"labels":{"__name__":"hist"},"samples":[` +
	`[0,{"count":"4.5","positive_buckets":["1.0","2.0","1.0"],"positive_spans":[[0,3]],"schema":0,"sum":"10.0","zero_count":"0.5","zero_threshold":"0.001"}],` +
	`[60000,{"count":"8.5","counter_reset_hint":"not_reset","positive_buckets":["2.0","4.0","2.0"],"positive_spans":[[0,3]],"schema":0,"sum":"20.5","zero_count":"0.5","zero_threshold":"0.001"}]]},` +
	`{"labels":{"__name__":"metric_total","job":"a"},"samples":[[0,"1.0"],[60000,"2.0"],[120000,"3.0"],[180000,"stale"],[300000,"5.0"]]},` +
	`{"labels":{"__name__":"metric_total","job":"b"},"samples":[[0,"10.0"],[60000,"NaN"],[120000,"+Inf"],[180000,"-0.0"],[240000,"1e-07"]]},` +
	`{"labels":{"__name__":"up","job":"a"},"samples":[[0,"1.0"],[60000,"1.5"],[120000,"2.0"]]}]}`

func newTestServer(t *testing.T, h hostkit.Host) (*hostkit.Server, *httptest.Server) {
	t.Helper()
	srv, err := hostkit.NewServer(h)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		_ = srv.Close()
	})
	return srv, ts
}

func post(t *testing.T, u, contentType, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, base, path string, params url.Values) (int, string) {
	t.Helper()
	resp, err := http.Get(base + path + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// loaded starts a host with the fixture loaded.
func loaded(t *testing.T) string {
	t.Helper()
	_, ts := newTestServer(t, mustHost(t, false, nil))
	code, body := post(t, ts.URL+"/load", "application/json", fixture)
	if code != 200 {
		t.Fatalf("load: %d %s", code, body)
	}
	return ts.URL
}

// envelope cuts the hostStats member off an answer, leaving Prometheus's envelope.
func envelope(t *testing.T, body string) string {
	t.Helper()
	i := strings.LastIndex(body, `,"hostStats":`)
	if i < 0 {
		t.Fatalf("no hostStats in %s", body)
	}
	return body[:i] + "}"
}

func hostStats(t *testing.T, body string) hostkit.HostStats {
	t.Helper()
	var a struct {
		HostStats *hostkit.HostStats `json:"hostStats"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.HostStats == nil {
		t.Fatalf("bad answer %s: %v", body, err)
	}
	return *a.HostStats
}

func TestLoadReportsCountsAndDumpEqualsInput(t *testing.T) {
	_, ts := newTestServer(t, mustHost(t, false, nil))
	code, body := post(t, ts.URL+"/load", "application/json", fixture)
	if code != 200 {
		t.Fatalf("load: %d %s", code, body)
	}
	var load struct {
		Status                     string
		Series, Floats, Histograms int
		LoadNs                     int64
	}
	if err := json.Unmarshal([]byte(body), &load); err != nil {
		t.Fatal(err)
	}
	if load.Status != "success" || load.Series != 4 || load.Floats != 13 || load.Histograms != 2 || load.LoadNs <= 0 {
		t.Fatalf("load answer %s", body)
	}
	if _, dump := get(t, ts.URL, "/dump", nil); dump != fixture {
		t.Fatalf("dump differs from input:\n got %s\nwant %s", dump, fixture)
	}
	_, health := get(t, ts.URL, "/health", nil)
	sum := sha256.Sum256([]byte(fixture))
	if want := hex.EncodeToString(sum[:])[:16]; !strings.Contains(health, `"fingerprint":"`+want+`"`) {
		t.Fatalf("health %s lacks fingerprint %s", health, want)
	}
	if !strings.Contains(health, `"github.com/prometheus/prometheus":"v0.316.0"`) {
		t.Fatalf("health does not report the module version: %s", health)
	}
}

func TestTextLoadUsesPromqltestLoader(t *testing.T) {
	_, ts := newTestServer(t, mustHost(t, false, nil))
	text := "load 1m\n  metric_total{job=\"a\"} 1 2 3 stale _ 5\n  up{job=\"a\"} 1 1.5 2\n"
	code, body := post(t, ts.URL+"/load", "text/plain", text)
	if code != 200 || !strings.Contains(body, `"floats":8,"histograms":0,`) || !strings.Contains(body, `"series":2,"status":"success"`) {
		t.Fatalf("text load: %d %s", code, body)
	}
	_, dump := get(t, ts.URL, "/dump", nil)
	want := `{"series":[{"labels":{"__name__":"metric_total","job":"a"},"samples":[[0,"1.0"],[60000,"2.0"],[120000,"3.0"],[180000,"stale"],[300000,"5.0"]]},` +
		`{"labels":{"__name__":"up","job":"a"},"samples":[[0,"1.0"],[60000,"1.5"],[120000,"2.0"]]}]}`
	if dump != want {
		t.Fatalf("dump after text load:\n got %s\nwant %s", dump, want)
	}
	code, body = post(t, ts.URL+"/load", "text/plain", "eval instant at 0 up\n")
	if code != 400 || !strings.Contains(body, `"errorType":"bad_data"`) {
		t.Fatalf("a non-load command must be refused: %d %s", code, body)
	}
}

func TestLoadRejectsMalformedDatasets(t *testing.T) {
	_, ts := newTestServer(t, mustHost(t, false, nil))
	for _, bad := range []string{
		`{"series":[{"labels":{"__name__":"a"},"samples":[[0,"x"]]}]}`,
		`{"series":[{"labels":{"__name__":"a"},"samples":[[1.5,"1"]]}]}`,
		`{"series":[{"labels":{"__name__":"a"},"samples":[[0,{"count":"1","sum":"1","counter_reset_hint":"maybe"}]]}]}`,
		`{"series":[{"labels":{"__name__":"a"},"samples":[[60000,"1"],[0,"2"]]}]}`,
		`{"rows":[]}`,
	} {
		code, body := post(t, ts.URL+"/load", "application/json", bad)
		if code != 400 || !strings.Contains(body, `"errorType":"bad_data"`) {
			t.Errorf("load %s: got %d %s, want 400 bad_data", bad, code, body)
		}
	}
}

func TestInstantQueries(t *testing.T) {
	base := loaded(t)
	cases := []struct{ query, time, want string }{
		{`metric_total`, "120", `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"__name__":"metric_total","job":"a"},"value":[120,"3"]},` +
			`{"metric":{"__name__":"metric_total","job":"b"},"value":[120,"+Inf"]}]}}`},
		// The stale marker at 180s hides job="a" until its next sample at 300s.
		{`metric_total{job="a"}`, "200", `{"status":"success","data":{"resultType":"vector","result":[]}}`},
		{`metric_total{job="a"}`, "300.000", `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"__name__":"metric_total","job":"a"},"value":[300,"5"]}]}}`},
		{`metric_total{job="b"}`, "60.5", `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"__name__":"metric_total","job":"b"},"value":[60.500,"NaN"]}]}}`}, // jsonutil keeps 3 digits
		{`metric_total{job="b"}`, "240", `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"__name__":"metric_total","job":"b"},"value":[240,"1e-07"]}]}}`},
		{`1 / 3`, "1.5", `{"status":"success","data":{"resultType":"scalar","result":[1.5,"0.3333333333333333"]}}`},
		{`"text"`, "2", `{"status":"success","data":{"resultType":"string","result":[2,"text"]}}`},
		{`metric_total{job="a"}[2m]`, "120", `{"status":"success","data":{"resultType":"matrix","result":[` +
			`{"metric":{"__name__":"metric_total","job":"a"},"values":[[60,"2"],[120,"3"]]}]}}`},
		{`hist`, "60", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"hist"},"histogram":[60,` +
			`{"count":"8.5","sum":"20.5","buckets":[[3,"-0.001","0.001","0.5"],[0,"0.5","1","2"],[0,"1","2","4"],[0,"2","4","2"]]}]}]}}`},
	}
	for _, c := range cases {
		code, body := get(t, base, "/api/v1/query", url.Values{"query": {c.query}, "time": {c.time}})
		if code != 200 || envelope(t, body) != c.want {
			t.Errorf("%s @%s:\n got %d %s\nwant %s", c.query, c.time, code, envelope(t, body), c.want)
		}
	}
}

func TestFullHistogramsExtension(t *testing.T) {
	base := loaded(t)
	_, body := get(t, base, "/api/v1/query", url.Values{"query": {"hist"}, "time": {"60"}, "histograms": {"full"}})
	want := `"full":{"count":"8.5","counter_reset_hint":"not_reset","positive_buckets":["2.0","4.0","2.0"],` +
		`"positive_spans":[[0,3]],"schema":0,"sum":"20.5","zero_count":"0.5","zero_threshold":"0.001"}}]}]}}`
	if !strings.HasSuffix(envelope(t, body), want) {
		t.Fatalf("full histogram missing:\n got %s\nwant suffix %s", envelope(t, body), want)
	}
}

func TestRangeQuery(t *testing.T) {
	base := loaded(t)
	code, body := get(t, base, "/api/v1/query_range", url.Values{
		"query": {`metric_total{job="a"}`}, "start": {"0"}, "end": {"300"}, "step": {"60"},
	})
	want := `{"status":"success","data":{"resultType":"matrix","result":[` +
		`{"metric":{"__name__":"metric_total","job":"a"},"values":[[0,"1"],[60,"2"],[120,"3"],[300,"5"]]}]}}`
	if code != 200 || envelope(t, body) != want {
		t.Fatalf("range query:\n got %d %s\nwant %s", code, envelope(t, body), want)
	}
	st := hostStats(t, body)
	if st.WallNs <= 0 || st.EngineNs <= 0 || st.EngineNs > st.WallNs || st.Samples <= 0 {
		t.Fatalf("implausible hostStats %+v", st)
	}
	code, body = get(t, base, "/api/v1/query_range", url.Values{
		"query": {`rate(hist[2m])`}, "start": {"60"}, "end": {"60"}, "step": {"15s"},
	})
	if code != 200 || !strings.Contains(body, `"histograms":[[60,{"count":"0.06666666666666667","sum":"0.175",`) {
		t.Fatalf("histogram rate: %d %s", code, body)
	}
}

func TestWarningsAndInfos(t *testing.T) {
	base := loaded(t)
	_, body := get(t, base, "/api/v1/query", url.Values{"query": {"quantile(2, metric_total)"}, "time": {"60"}})
	if !strings.Contains(body, `"warnings":["PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)"]`) || strings.Contains(body, `"infos"`) {
		t.Errorf("quantile warning: %s", body)
	}
	_, body = get(t, base, "/api/v1/query", url.Values{"query": {"rate(up[5m])"}, "time": {"120"}})
	if !strings.Contains(body, `"infos":["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\" (1:6)"]`) || strings.Contains(body, `"warnings"`) {
		t.Errorf("rate info: %s", body)
	}
}

func TestErrors(t *testing.T) {
	base := loaded(t)
	cases := []struct {
		path   string
		params url.Values
		status int
		want   string
	}{
		{"/api/v1/query", url.Values{"query": {"sum("}, "time": {"0"}}, 400,
			`{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}`},
		{"/api/v1/query", url.Values{"query": {`label_replace(up, "x", "$1", "job", "(")`}, "time": {"0"}}, 422,
			`{"status":"error","errorType":"execution","error":"invalid regular expression in label_replace(): ("}`},
		{"/api/v1/query", url.Values{"query": {`metric_total / on() up`}, "time": {"0"}}, 422,
			`{"status":"error","errorType":"execution","error":"multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"}`},
		{"/api/v1/query", url.Values{"query": {`up / on() metric_total`}, "time": {"0"}}, 422,
			`{"status":"error","errorType":"execution","error":"found duplicate series for the match group {} on the right hand-side of the operation: [{__name__=\"metric_total\", job=\"a\"}, {__name__=\"metric_total\", job=\"b\"}];many-to-many matching not allowed: matching labels must be unique on one side"}`},
		{"/api/v1/query", url.Values{"query": {"up"}, "time": {"yesterday"}}, 400,
			`{"status":"error","errorType":"bad_data","error":"invalid parameter \"time\": invalid time value for 'time': cannot parse \"yesterday\" to a valid timestamp"}`},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"10"}, "end": {"0"}, "step": {"1"}}, 400,
			`{"status":"error","errorType":"bad_data","error":"invalid parameter \"end\": end timestamp must not be before start time"}`},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"10"}, "step": {"0"}}, 400,
			`{"status":"error","errorType":"bad_data","error":"invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"}`},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"11001"}, "step": {"1"}}, 400,
			`{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"}`},
		{"/api/v1/query_range", url.Values{"query": {"up[5m]"}, "start": {"0"}, "end": {"10"}, "step": {"1"}}, 400,
			`{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"}`},
		{"/api/v1/query", url.Values{"query": {"up"}, "time": {"0"}, "timeout": {"-1s"}}, 400,
			`{"status":"error","errorType":"bad_data","error":"invalid parameter \"timeout\": cannot parse \"-1s\" to a valid duration"}`},
		{"/api/v1/query", url.Values{"query": {"up"}, "engine": {"mqe"}}, 400,
			`{"status":"error","errorType":"bad_data","error":"unknown engine \"mqe\"; engines: prometheus"}`},
	}
	for _, c := range cases {
		code, body := get(t, base, c.path, c.params)
		if code != c.status || envelope(t, body) != c.want {
			t.Errorf("%s %v:\n got %d %s\nwant %d %s", c.path, c.params, code, envelope(t, body), c.status, c.want)
		}
	}
	// The exact boundary: 11,000 steps is still allowed.
	if code, body := get(t, base, "/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"11000"}, "step": {"1"}}); code != 200 {
		t.Errorf("11,000 points must be accepted: %d %s", code, body)
	}
}

func TestTimeoutAnswers503(t *testing.T) {
	base := loaded(t)
	// A one-nanosecond deadline has passed before the engine evaluates anything.
	code, body := get(t, base, "/api/v1/query", url.Values{"query": {"up"}, "time": {"60"}, "timeout": {"1e-9"}})
	if code != 503 || !strings.Contains(body, `"errorType":"timeout"`) {
		t.Fatalf("timeout: %d %s", code, body)
	}
}

func TestBatchAnswersInOrder(t *testing.T) {
	base := loaded(t)
	req := `{"engine":"prometheus","histograms":"full","queries":[` +
		`{"query":"up","time":"60"},` +
		`{"query":"sum(","time":"0"},` +
		`{"query":"metric_total{job=\"a\"}","start":"0","end":"120","step":"60"},` +
		`{"query":"hist","time":"0"}]}`
	code, body := post(t, base+"/api/v1/batch", "application/json", req)
	if code != 200 {
		t.Fatalf("batch: %d %s", code, body)
	}
	var out struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Results) != 4 {
		t.Fatalf("batch answer %s: %v", body, err)
	}
	want := []string{
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[60,"1.5"]}]}}`,
		`{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"metric_total","job":"a"},"values":[[0,"1"],[60,"2"],[120,"3"]]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"hist"},"histogram":[0,{"count":"4.5","sum":"10","buckets":[[3,"-0.001","0.001","0.5"],[0,"0.5","1","1"],[0,"1","2","2"],[0,"2","4","1"]],` +
			`"full":{"count":"4.5","positive_buckets":["1.0","2.0","1.0"],"positive_spans":[[0,3]],"schema":0,"sum":"10.0","zero_count":"0.5","zero_threshold":"0.001"}}]}]}}`,
	}
	for i, r := range out.Results {
		if got := envelope(t, string(r)); got != want[i] {
			t.Errorf("batch result %d:\n got %s\nwant %s", i, got, want[i])
		}
	}
}

// The "lines" format answers one line per query, hostStats then a tab then the envelope
// (the same bytes as the JSON format's, and the same digest).
func TestBatchLinesFormatCarriesTheJSONFormatsEnvelopes(t *testing.T) {
	base := loaded(t)
	queries := `[{"query":"up","time":"60"},{"query":"sum(","time":"0"},{"query":"metric_total","start":"0","end":"120","step":"60"}]`
	parse := func(body string) (stats []hostkit.HostStats, envs []string) {
		t.Helper()
		lines := strings.Split(body, "\n")
		if len(lines) != 4 || lines[3] != "" {
			t.Fatalf("want 3 lines and a final newline, got %q", body)
		}
		for _, l := range lines[:3] {
			st, env, ok := strings.Cut(l, "\t")
			if !ok {
				t.Fatalf("no tab in line %q", l)
			}
			var hs struct {
				hostkit.HostStats
				Digest string `json:"digest"`
			}
			if err := json.Unmarshal([]byte(st), &hs); err != nil || len(hs.Digest) != 24 {
				t.Fatalf("bad stats %q: %v", st, err)
			}
			stats = append(stats, hs.HostStats)
			envs = append(envs, hs.Digest+" "+env)
		}
		return stats, envs
	}
	code, body := post(t, base+"/api/v1/batch", "application/json", `{"engine":"prometheus","format":"lines","queries":`+queries+`}`)
	if code != 200 {
		t.Fatalf("batch: %d %s", code, body)
	}
	_, envs := parse(body)
	code, old := post(t, base+"/api/v1/batch", "application/json", `{"engine":"prometheus","queries":`+queries+`}`)
	var out struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal([]byte(old), &out); code != 200 || err != nil || len(out.Results) != 3 {
		t.Fatalf("json batch: %d %s", code, old)
	}
	for i, e := range envs {
		d, env, _ := strings.Cut(e, " ")
		if want := envelope(t, string(out.Results[i])); env != want {
			t.Errorf("line %d envelope:\n got %s\nwant %s", i, env, want)
		}
		var jsonAnswer struct {
			HostStats struct {
				Digest string `json:"digest"`
			} `json:"hostStats"`
		}
		if err := json.Unmarshal(out.Results[i], &jsonAnswer); err != nil || jsonAnswer.HostStats.Digest != d {
			t.Errorf("line %d digest %s, JSON format's %s (%v)", i, d, jsonAnswer.HostStats.Digest, err)
		}
	}
}

// "bodies":"none" answers digests only: equal for the same answer, different for another,
// and no envelope ever; the range checks still answer as errors (with digests).
func TestBatchWithoutBodiesDigestsValues(t *testing.T) {
	base := loaded(t)
	batch := func(queries string) []string {
		t.Helper()
		code, body := post(t, base+"/api/v1/batch", "application/json",
			`{"engine":"prometheus","format":"lines","bodies":"none","histograms":"full","queries":`+queries+`}`)
		if code != 200 {
			t.Fatalf("batch: %d %s", code, body)
		}
		var digests []string
		for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
			st, env, ok := strings.Cut(l, "\t")
			var hs struct {
				Digest string `json:"digest"`
			}
			if err := json.Unmarshal([]byte(st), &hs); !ok || err != nil || len(hs.Digest) != 24 || env != "" {
				t.Fatalf("bad line %q: %v", l, err)
			}
			digests = append(digests, hs.Digest)
		}
		return digests
	}
	d := batch(`[{"query":"up","time":"60"},{"query":"up","time":"60"},{"query":"up","time":"120"},` +
		`{"query":"hist","time":"0"},{"query":"hist","time":"60"},{"query":"sum(","time":"0"},` +
		`{"query":"metric_total","start":"0","end":"120","step":"60"},{"query":"metric_total","start":"0","end":"120","step":"30"}]`)
	if len(d) != 8 || d[0] != d[1] {
		t.Fatalf("the same query must give the same digest: %v", d)
	}
	seen := map[string]int{}
	for i, x := range d[1:] {
		if j, dup := seen[x]; dup {
			t.Errorf("answers %d and %d differ but share digest %s", j+1, i+1, x)
		}
		seen[x] = i
	}
	if code, body := post(t, base+"/api/v1/batch", "application/json", `{"engine":"prometheus","bodies":"none","queries":[]}`); code != 400 {
		t.Errorf("bodies none without the lines format: %d %s", code, body)
	}
}

// panicEngine is a test-only engine whose queries panic when executed.
type panicEngine struct{}

type panicQuery struct{ promql.Query }

func (panicQuery) Exec(context.Context) *promql.Result { panic("boom from the test engine") }
func (panicQuery) Close()                              {}

func (panicEngine) NewInstantQuery(context.Context, storage.Queryable, promql.QueryOpts, string, time.Time) (promql.Query, error) {
	return panicQuery{}, nil
}

func (panicEngine) NewRangeQuery(context.Context, storage.Queryable, promql.QueryOpts, string, time.Time, time.Time, time.Duration) (promql.Query, error) {
	return panicQuery{}, nil
}

func TestPanicIsRecoveredAsEnginePanic(t *testing.T) {
	h := mustHost(t, false, nil)
	h.Engines = append(h.Engines, hostkit.Engine{Name: "boom", Engine: panicEngine{}})
	_, ts := newTestServer(t, h)
	code, body := get(t, ts.URL, "/api/v1/query", url.Values{"query": {"up"}, "time": {"0"}, "engine": {"boom"}})
	if code != 500 || !strings.Contains(body, `"errorType":"engine_panic"`) || !strings.Contains(body, "boom from the test engine") || !strings.Contains(body, "goroutine") {
		t.Fatalf("panic answer: %d %s", code, body)
	}
	// The host survives and the other engine still answers.
	code, body = get(t, ts.URL, "/api/v1/query", url.Values{"query": {"1"}, "time": {"0"}, "engine": {"prometheus"}})
	if code != 200 || !strings.Contains(body, `"result":[0,"1"]`) {
		t.Fatalf("after panic: %d %s", code, body)
	}
	// With two engines the engine parameter is required.
	code, body = get(t, ts.URL, "/api/v1/query", url.Values{"query": {"1"}})
	if code != 400 || !strings.Contains(body, "parameter engine is required") {
		t.Fatalf("missing engine: %d %s", code, body)
	}
}

func TestParseEndpoint(t *testing.T) {
	_, ts := newTestServer(t, mustHost(t, false, nil))
	cases := []struct{ query, want string }{
		{`sum(rate(x[5m]))by(job)`, `{"data":{"canonical":"sum by (job) (rate(x[5m]))","type":"vector"},"status":"success"}`},
		{`x[5m+1m]`, `{"data":{"canonical":"x[5m + 1m]","type":"matrix"},"status":"success"}`},
		{`sort_by_label(x, "a")`, `{"data":{"canonical":"sort_by_label(x, \"a\")","type":"vector"},"status":"success"}`},
		{`x + fill(0) y`, `{"data":{"canonical":"x + fill (0) y","type":"vector"},"status":"success"}`},
		{`rate(x[5m] anchored)`, `{"data":{"canonical":"rate(x[5m] anchored)","type":"vector"},"status":"success"}`},
		{`1 +`, `{"error":"1:4: parse error: unexpected end of input","errorType":"bad_data","positions":[{"start":3,"end":3}],"status":"error"}`},
	}
	for _, c := range cases {
		_, body := get(t, ts.URL, "/api/v1/parse", url.Values{"query": {c.query}})
		if body != c.want {
			t.Errorf("parse %q:\n got %s\nwant %s", c.query, body, c.want)
		}
	}
}

func TestFunctionsEndpoint(t *testing.T) {
	_, ts := newTestServer(t, mustHost(t, false, nil))
	_, body := get(t, ts.URL, "/api/v1/functions", nil)
	var out struct {
		Data struct {
			Functions []struct {
				Name         string
				ArgTypes     []string
				Variadic     int
				ReturnType   string
				Experimental bool
			}
			Aggregations, BinaryOperators []string
		}
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for i, f := range out.Data.Functions {
		byName[f.Name] = i
	}
	rate, ok := byName["rate"]
	if !ok || out.Data.Functions[rate].ArgTypes[0] != "matrix" || out.Data.Functions[rate].ReturnType != "vector" || out.Data.Functions[rate].Experimental {
		t.Errorf("rate entry wrong: %s", body)
	}
	if i, ok := byName["label_join"]; !ok || out.Data.Functions[i].Variadic != -1 {
		t.Errorf("label_join must be variadic -1")
	}
	if i, ok := byName["sort_by_label"]; !ok || !out.Data.Functions[i].Experimental {
		t.Errorf("sort_by_label must be experimental")
	}
	if len(out.Data.Functions) != len(parser.Functions) {
		t.Errorf("functions: %d, parser has %d", len(out.Data.Functions), len(parser.Functions))
	}
	for _, want := range []string{"sum", "topk", "limitk", "count_values", "quantile"} {
		if !strings.Contains(strings.Join(out.Data.Aggregations, ","), want) {
			t.Errorf("aggregation %s missing: %v", want, out.Data.Aggregations)
		}
	}
	ops := "," + strings.Join(out.Data.BinaryOperators, ",") + ","
	for _, want := range []string{"+", "^", "==", "and", "unless", "atan2"} {
		if !strings.Contains(ops, ","+want+",") {
			t.Errorf("operator %s missing: %v", want, out.Data.BinaryOperators)
		}
	}
	if strings.Contains(ops, ",=~,") || strings.Contains(ops, ",@,") {
		t.Errorf("matchers and @ are not binary operators: %v", out.Data.BinaryOperators)
	}
}

// TestMain doubles as the host process for TestProcessProtocol.
func TestMain(m *testing.M) {
	if os.Getenv("PROMFUZZ_HOST_UNDER_TEST") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestProcessProtocol(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "PROMFUZZ_HOST_UNDER_TEST=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v", err)
	}
	var ready hostkit.ReadyLine
	if err := json.Unmarshal([]byte(line), &ready); err != nil || !ready.Ready || ready.PID != cmd.Process.Pid ||
		!strings.HasPrefix(ready.Addr, "127.0.0.1:") || strings.HasSuffix(ready.Addr, ":0") ||
		len(ready.Engines) != 1 || ready.Engines[0] != "prometheus" || ready.Modules["github.com/prometheus/prometheus"] != "v0.316.0" {
		t.Fatalf("bad ready line %q: %v", line, err)
	}
	code, body := get(t, "http://"+ready.Addr, "/health", nil)
	if code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("health: %d %s", code, body)
	}
	_ = stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("host did not exit cleanly on stdin EOF: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("host did not exit within 10s of stdin EOF")
	}
}

// mustHost builds the host with the given options (nil: defaults).
func mustHost(t *testing.T, promqltestEngine bool, kv map[string]string) hostkit.Host {
	t.Helper()
	o := hostkit.NewOptions(kv)
	h, err := newHost(promqltestEngine, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Check([]string{hostkit.OptLookback, hostkit.OptDelayedNameRemoval}); err != nil {
		t.Fatal(err)
	}
	return h
}
