// Package promqltestrun runs promqltest files through Prometheus's own test runner,
// promqltest.RunTest, with the test engine Prometheus's own suite uses
// (promqltest.NewTestEngine(t, false, 0, DefaultMaxSamplesPerQuery)): the instant evals'
// @-pinned and range-mode re-runs and the order checks included, exactly as a file pasted
// into promql/promqltest/testdata/ would be run.
//
// It is a test binary on purpose (RunTest needs a *testing.T). Build it with
//
//	go test -c -o ../../.build/promqltest-runner ./promqltestrun
//
// and run it as
//
//	promqltest-runner -test.run '^TestFiles$' -test.v -list FILES.txt
//
// where FILES.txt holds one .test path a line. Each file is a subtest named by its index
// in the list ("TestFiles/f0007"); each failing eval reports the runner's own message.
package promqltestrun

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/promqltest"
)

var list = flag.String("list", "", "file with one promqltest file path per line")

func TestFiles(t *testing.T) {
	if *list == "" {
		t.Skip("no -list given (this test runs files named on its command line)")
	}
	f, err := os.Open(*list)
	if err != nil {
		t.Fatalf("cannot open -list %s: %v", *list, err)
	}
	defer f.Close()
	var paths []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p := strings.TrimSpace(sc.Text()); p != "" {
			paths = append(paths, p)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading %s: %v", *list, err)
	}
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	for i, p := range paths {
		t.Run(fmt.Sprintf("f%04d", i), func(t *testing.T) {
			t.Logf("file %s", p)
			content, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("cannot read %s: %v", p, err)
			}
			promqltest.RunTest(t, string(content), engine)
		})
	}
}
