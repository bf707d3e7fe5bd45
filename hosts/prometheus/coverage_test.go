package main

import (
	"net/url"
	"strings"
	"testing"
)

// A plain (non -cover) build answers /coverage/flush with bad_data instead of writing
// anything; the success path is covered by tests/benchmarks (coverage builds).
func TestCoverageFlushRefusedWithoutCoverageBuild(t *testing.T) {
	_, ts := newTestServer(t, mustHost(t, false, nil))
	dir := t.TempDir()
	code, body := post(t, ts.URL+"/coverage/flush", "application/x-www-form-urlencoded", url.Values{"dir": {dir}}.Encode())
	if code != 400 || !strings.Contains(body, `"errorType":"bad_data"`) || !strings.Contains(body, "coverage flush") {
		t.Fatalf("got %d %s; want 400 bad_data coverage flush", code, body)
	}
}
