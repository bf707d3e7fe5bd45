// Package hostkittest holds the test fixture and helpers the engine hosts' Go tests share:
// a small promqltest load block, a server with it loaded, and helpers to run a query and
// compare JSON results. Only test code imports it.
package hostkittest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// Fixture: floats, a stale marker (a{job="x"} at 3m), a gap (a{job="x"} at 5m) and a
// native histogram series growing by one observation in bucket (1,2] per minute.
const Fixture = `load 1m
  a{job="x"} 1 2 3 stale 5 _ 7
  a{job="y"} 0+10x6
  h{job="x"} {{schema:0 sum:5 count:4 buckets:[1 2 1]}}+{{schema:0 sum:1 count:1 buckets:[0 1]}}x6
`

// Envelope is a decoded query answer (the Prometheus API envelope plus hostStats).
type Envelope struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      *struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
	Warnings  []string          `json:"warnings"`
	Infos     []string          `json:"infos"`
	HostStats hostkit.HostStats `json:"hostStats"`
}

// Serve serves h with Fixture loaded; the server closes when the test ends.
func Serve(t *testing.T, h hostkit.Host) *hostkit.Server {
	t.Helper()
	srv, err := hostkit.NewServer(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	req := httptest.NewRequest(http.MethodPost, "/load", strings.NewReader(Fixture))
	req.Header.Set("Content-Type", "text/plain")
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("load: %d %s", rec.Code, rec.Body.String())
	}
	return srv
}

// Run runs one query on engine and decodes the answer.
func Run(t *testing.T, srv *hostkit.Server, engine string, req hostkit.QueryRequest) (int, Envelope) {
	t.Helper()
	status, body := srv.Run(engine, req, false)
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("%s %q: bad JSON %v: %s", engine, req.Query, err, body)
	}
	return status, env
}

// CompactJSON normalizes a JSON result so expected results can be written readably: the
// series of a result list are sorted, since engines return instant vectors in no defined
// order.
func CompactJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad expected JSON %q: %v", s, err)
	}
	if list, ok := v.([]any); ok {
		items := make([]string, len(list))
		for i, item := range list {
			b, _ := json.Marshal(item)
			items[i] = string(b)
		}
		sort.Strings(items)
		return "[" + strings.Join(items, ",") + "]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
