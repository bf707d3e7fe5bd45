package hostkit

import (
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime/coverage"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
)

// handleCoverageFlush writes the coverage meta-data and a snapshot of the counters of a
// coverage build (go build -cover) into a directory, without exiting: POST
// /coverage/flush?dir=DIR (default $GOCOVERDIR). `go tool covdata` then reads DIR while the
// host keeps running, so coverage can be sampled over time. Answers
// {"status":"success","dir":DIR}, or bad_data when this is not a coverage build or the
// directory cannot be written. A clean exit (stdin EOF) writes the final counters to
// $GOCOVERDIR by itself.
func (s *Server) handleCoverageFlush(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, "bad_data", err.Error())
		return
	}
	dir := r.Form.Get("dir")
	if dir == "" {
		dir = os.Getenv("GOCOVERDIR")
	}
	if dir == "" {
		writeError(w, "bad_data", "no dir parameter and GOCOVERDIR is not set")
		return
	}
	dir, err := filepath.Abs(dir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		err = coverage.WriteMetaDir(dir)
	}
	if err == nil {
		err = coverage.WriteCountersDir(dir)
	}
	if err != nil {
		writeError(w, "bad_data", "coverage flush: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "success", "dir": dir})
}

// LoadedSeries returns the label sets of every stored series (sorted) and the time range
// of the stored samples (minT > maxT when nothing is loaded). For host-specific endpoints
// that need to know the loaded data.
func (s *Server) LoadedSeries() (series []labels.Labels, minT, maxT int64, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	minT, maxT = math.MaxInt64, math.MinInt64
	see := func(t int64) {
		minT, maxT = min(minT, t), max(maxT, t)
	}
	err = s.st.walk(seriesVisitor{
		series: func(l labels.Labels) error { series = append(series, l); return nil },
		float:  func(t int64, _ float64) error { see(t); return nil },
		hist:   func(t int64, _ *histogram.FloatHistogram) error { see(t); return nil },
	})
	return series, minT, maxT, err
}
