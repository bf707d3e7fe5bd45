// Package promqltestrun runs promqltest files through the promqltest runner of Prometheus v0.308.0, the version the Thanos engine is built on,
// promqltest.RunTest, with the test engine that version's suite uses
// (promqltest.NewTestEngine(t, false, 0, DefaultMaxSamplesPerQuery)): the instant evals'
// @-pinned and range-mode re-runs and the order checks included, exactly as a file pasted
// into that version's promql/promqltest/testdata/ is run. A test binary on purpose (RunTest needs a
// *testing.T); `make hosts` builds it as .build/promqltest-runner-thanos:
//
//	promqltest-runner-thanos -test.run '^TestFiles$' -test.v -list FILES.txt
package promqltestrun

import (
	"flag"
	"testing"

	"github.com/prometheus/prometheus/promql/promqltest"

	"github.com/promfuzz/promfuzz/hosts/hostkit/promqltestrun"
)

var list = flag.String("list", "", "file with one promqltest file path per line")

func TestFiles(t *testing.T) {
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	promqltestrun.RunListed(t, *list, func(t *testing.T, input string) {
		promqltest.RunTest(t, input, engine)
	})
}
