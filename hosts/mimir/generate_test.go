// SPDX-License-Identifier: AGPL-3.0-only

package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

func generate(t *testing.T, h http.Handler, form url.Values) (int, []generatedQuery, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/generate", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body struct {
		Queries []generatedQuery `json:"queries"`
		Error   string           `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("bad JSON: %v: %s", err, rec.Body.String())
	}
	return rec.Code, body.Queries, body.Error
}

func TestGenerateReturnsParseableQueriesOverLoadedSeries(t *testing.T) {
	srv := newTestServer(t)
	p := parser.NewParser(parserOptions())
	code, qs, msg := generate(t, srv.Handler(), url.Values{"seed": {"7"}, "n": {"200"}})
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, msg)
	}
	if len(qs) != 200 {
		t.Fatalf("got %d queries, want 200", len(qs))
	}
	kinds := map[string]int{}
	usesFixtureMetric := 0
	for _, q := range qs {
		kinds[q.Kind]++
		if _, err := p.ParseExpr(q.Query); err != nil {
			t.Errorf("%s query %q does not parse: %v", q.Kind, q.Query, err)
		}
		if strings.Contains(q.Query, `"a"`) || strings.Contains(q.Query, `"h"`) || strings.Contains(q.Query, "job=") {
			usesFixtureMetric++
		}
	}
	if kinds["instant"] == 0 || kinds["range"] == 0 {
		t.Errorf("mixed kind should give both instant and range queries, got %v", kinds)
	}
	if usesFixtureMetric == 0 {
		t.Errorf("no query selects the loaded series: %q", qs[:5])
	}
}

func TestGenerateRejectsBadParametersAndEmptyStorage(t *testing.T) {
	srv := newTestServer(t)
	for _, form := range []url.Values{{"n": {"-1"}}, {"n": {"x"}}, {"kind": {"both"}}, {"depth": {"0"}}} {
		if code, _, msg := generate(t, srv.Handler(), form); code != http.StatusBadRequest || msg == "" {
			t.Errorf("%v: status %d, error %q; want 400 with an error", form, code, msg)
		}
	}
	h, err := newHost(hostkit.NewOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	empty, err := hostkit.NewServer(h)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = empty.Close() }()
	if code, _, msg := generate(t, empty.Handler(), url.Values{"n": {"3"}}); code != http.StatusBadRequest || !strings.Contains(msg, "no series loaded") {
		t.Errorf("empty storage: status %d, error %q; want 400 no series loaded", code, msg)
	}
}
