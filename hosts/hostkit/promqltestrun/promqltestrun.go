// Package promqltestrun runs promqltest files named in a list through an engine family's
// own promqltest runner. Each host module has a tiny test binary (its promqltestrun
// folder) that passes its promqltest.RunTest and test engine in; this package holds what
// they share: reading the list and one subtest per file, named by its index in the list
// ("TestFiles/f0007", the file path logged first), so the Python side
// (promfuzz/corpus/runner.py) can match outcomes to files even when a file is listed twice.
package promqltestrun

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// RunListed runs every file named in the list file (one path a line) through run.
func RunListed(t *testing.T, list string, run func(t *testing.T, input string)) {
	if list == "" {
		t.Skip("no -list given (this test runs the files named on its command line)")
	}
	f, err := os.Open(list)
	if err != nil {
		t.Fatalf("cannot open -list %s: %v", list, err)
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
		t.Fatalf("reading %s: %v", list, err)
	}
	for i, p := range paths {
		t.Run(fmt.Sprintf("f%04d", i), func(t *testing.T) {
			t.Logf("file %s", p)
			content, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("cannot read %s: %v", p, err)
			}
			run(t, string(content))
		})
	}
}
