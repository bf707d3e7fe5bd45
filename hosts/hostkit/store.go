package hostkit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// store is one loaded dataset: a fresh in-memory TSDB (plus its cleanup) and its counts.
type store struct {
	db      storage.Storage
	closeFn func() error
	counts  loadCounts

	fpOnce sync.Once
	fp     string
	fpErr  error
}

type loadCounts struct {
	Series     int `json:"series"`
	Floats     int `json:"floats"`
	Histograms int `json:"histograms"`
}

func (s *store) close() error {
	if s == nil || s.closeFn == nil {
		return nil
	}
	return s.closeFn()
}

// fingerprint is Dataset.fingerprint() of the stored data: sha256 of the canonical dump, 16 hex digits.
func (s *store) fingerprint() (string, error) {
	s.fpOnce.Do(func() {
		var buf bytes.Buffer
		if s.fpErr = s.dump(&buf); s.fpErr == nil {
			sum := sha256.Sum256(buf.Bytes())
			s.fp = hex.EncodeToString(sum[:])[:16]
		}
	})
	return s.fp, s.fpErr
}

// emptyStore is the storage before the first load.
func emptyStore() (*store, error) {
	db, closeFn, err := openTSDB()
	if err != nil {
		return nil, err
	}
	return &store{db: db, closeFn: closeFn}, nil
}

// openTSDB opens a fresh TSDB in a temporary directory, without WAL and compactions, so
// everything stays in the in-memory head.
func openTSDB() (*tsdb.DB, func() error, error) {
	dir, err := os.MkdirTemp("", "promfuzz-host-")
	if err != nil {
		return nil, nil, err
	}
	opts := tsdb.DefaultOptions()
	day := int64(24 * time.Hour / time.Millisecond)
	opts.MinBlockDuration = day
	opts.MaxBlockDuration = day
	opts.RetentionDuration = 0
	opts.OutOfOrderTimeWindow = 0
	opts.WALSegmentSize = -1
	db, err := tsdb.Open(dir, nil, nil, opts, tsdb.NewDBStats())
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("opening TSDB: %w", err)
	}
	db.DisableCompactions()
	closeFn := func() error {
		err := db.Close()
		return errors.Join(err, os.RemoveAll(dir))
	}
	return db, closeFn, nil
}

// ---------------------------------------------------------------------------- JSON load

// jsonFloat reads the dataset float encoding: a number string, "NaN", "+Inf", "-Inf",
// "stale", or a bare JSON number.
type jsonFloat float64

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := parseValue(s)
		if err != nil {
			return err
		}
		*f = jsonFloat(v)
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("expected a float, got %s", b)
	}
	*f = jsonFloat(v)
	return nil
}

func parseValue(s string) (float64, error) {
	switch s {
	case "stale":
		return math.Float64frombits(value.StaleNaN), nil
	case "NaN", "nan":
		return math.NaN(), nil
	case "+Inf", "Inf", "inf", "+inf":
		return math.Inf(1), nil
	case "-Inf", "-inf":
		return math.Inf(-1), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("expected a float string, got %q", s)
	}
	return v, nil
}

type histogramJSON struct {
	Schema           int32       `json:"schema"`
	Count            jsonFloat   `json:"count"`
	Sum              jsonFloat   `json:"sum"`
	ZeroThreshold    jsonFloat   `json:"zero_threshold"`
	ZeroCount        jsonFloat   `json:"zero_count"`
	PositiveSpans    [][2]int64  `json:"positive_spans"`
	PositiveBuckets  []jsonFloat `json:"positive_buckets"`
	NegativeSpans    [][2]int64  `json:"negative_spans"`
	NegativeBuckets  []jsonFloat `json:"negative_buckets"`
	CustomValues     []jsonFloat `json:"custom_values"`
	CounterResetHint string      `json:"counter_reset_hint"`
}

func spans(in [][2]int64) ([]histogram.Span, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]histogram.Span, len(in))
	for i, s := range in {
		if s[0] < math.MinInt32 || s[0] > math.MaxInt32 || s[1] < 0 || s[1] > math.MaxUint32 {
			return nil, fmt.Errorf("span %v out of range", s)
		}
		out[i] = histogram.Span{Offset: int32(s[0]), Length: uint32(s[1])}
	}
	return out, nil
}

func floats(in []jsonFloat) []float64 {
	if len(in) == 0 {
		return nil
	}
	out := make([]float64, len(in))
	for i, f := range in {
		out[i] = float64(f)
	}
	return out
}

var hintNames = map[histogram.CounterResetHint]string{
	histogram.UnknownCounterReset: "unknown",
	histogram.CounterReset:        "reset",
	histogram.NotCounterReset:     "not_reset",
	histogram.GaugeType:           "gauge",
}

func (h *histogramJSON) toFloatHistogram() (*histogram.FloatHistogram, error) {
	fh := &histogram.FloatHistogram{
		Schema:          h.Schema,
		Count:           float64(h.Count),
		Sum:             float64(h.Sum),
		ZeroThreshold:   float64(h.ZeroThreshold),
		ZeroCount:       float64(h.ZeroCount),
		PositiveBuckets: floats(h.PositiveBuckets),
		NegativeBuckets: floats(h.NegativeBuckets),
		CustomValues:    floats(h.CustomValues),
	}
	var err error
	if fh.PositiveSpans, err = spans(h.PositiveSpans); err != nil {
		return nil, err
	}
	if fh.NegativeSpans, err = spans(h.NegativeSpans); err != nil {
		return nil, err
	}
	switch h.CounterResetHint {
	case "", "unknown":
		fh.CounterResetHint = histogram.UnknownCounterReset
	case "reset":
		fh.CounterResetHint = histogram.CounterReset
	case "not_reset":
		fh.CounterResetHint = histogram.NotCounterReset
	case "gauge":
		fh.CounterResetHint = histogram.GaugeType
	default:
		return nil, fmt.Errorf("unknown counter_reset_hint %q (expected unknown, reset, not_reset or gauge)", h.CounterResetHint)
	}
	return fh, nil
}

type seriesJSON struct {
	Labels  map[string]string    `json:"labels"`
	Samples [][2]json.RawMessage `json:"samples"`
}

type datasetJSON struct {
	Series *[]seriesJSON `json:"series"`
}

// loadJSON loads the dataset JSON of promfuzz.model.Dataset.to_json() into a fresh TSDB.
func loadJSON(body []byte) (*store, error) {
	var ds datasetJSON
	if err := json.Unmarshal(body, &ds); err != nil {
		return nil, fmt.Errorf("dataset JSON: %w", err)
	}
	if ds.Series == nil {
		return nil, errors.New(`dataset JSON: expected an object {"series": [...]}`)
	}
	db, closeFn, err := openTSDB()
	if err != nil {
		return nil, err
	}
	st := &store{db: db, closeFn: closeFn}
	if err := appendSeries(db, *ds.Series, &st.counts); err != nil {
		_ = closeFn()
		return nil, err
	}
	return st, nil
}

func appendSeries(db storage.Appendable, series []seriesJSON, counts *loadCounts) error {
	app := db.Appender(context.Background())
	seen := make(map[string]int, len(series))
	for i, s := range series {
		if len(s.Labels) == 0 {
			return errors.Join(fmt.Errorf("series #%d: no labels", i), app.Rollback())
		}
		lbls := labels.FromMap(s.Labels)
		key := lbls.String()
		if j, dup := seen[key]; dup {
			return errors.Join(fmt.Errorf("series #%d: duplicate of series #%d %s", i, j, key), app.Rollback())
		}
		seen[key] = i
		var ref storage.SeriesRef
		prevT := int64(math.MinInt64)
		for k, pair := range s.Samples {
			fail := func(err error) error {
				return errors.Join(fmt.Errorf("series #%d %s, sample #%d: %w", i, key, k, err), app.Rollback())
			}
			t, err := strconv.ParseInt(string(pair[0]), 10, 64)
			if err != nil {
				return fail(fmt.Errorf("expected an integer millisecond timestamp, got %s", pair[0]))
			}
			if k > 0 && t <= prevT {
				return fail(fmt.Errorf("timestamp %d is not after the previous sample's %d (samples must be sorted by time, one per timestamp)", t, prevT))
			}
			prevT = t
			raw := bytes.TrimSpace(pair[1])
			if len(raw) > 0 && raw[0] == '{' {
				var hj histogramJSON
				if err := json.Unmarshal(raw, &hj); err != nil {
					return fail(err)
				}
				fh, err := hj.toFloatHistogram()
				if err != nil {
					return fail(err)
				}
				if err := fh.Validate(); err != nil {
					return fail(err)
				}
				if ref, err = app.AppendHistogram(ref, lbls, t, nil, fh); err != nil {
					return fail(err)
				}
				counts.Histograms++
				continue
			}
			var f jsonFloat
			if err := json.Unmarshal(raw, &f); err != nil {
				return fail(err)
			}
			if ref, err = app.Append(ref, lbls, t, float64(f)); err != nil {
				return fail(err)
			}
			counts.Floats++
		}
		counts.Series++
	}
	return app.Commit()
}

// ---------------------------------------------------------------------------- text load

// loadText loads a promqltest "load <interval>" block with promqltest's own loader.
// Only the first load command of the text is used (promqltest.LazyLoader's rule).
func loadText(text string) (st *store, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("promqltest loader panicked: %v", r)
		}
	}()
	ll, err := promqltest.NewLazyLoader(text, promqltest.LazyLoaderOpts{EnableAtModifier: true, EnableNegativeOffset: true})
	if err != nil {
		return nil, err
	}
	var appendErr error
	// All samples: WithSamplesTill takes a time; the largest representable offset from the epoch.
	ll.WithSamplesTill(time.Unix(0, 0).UTC().Add(math.MaxInt64), func(e error) { appendErr = e })
	if appendErr != nil {
		_ = ll.Close()
		return nil, appendErr
	}
	st = &store{db: ll.Storage(), closeFn: ll.Close}
	if st.counts, err = st.scanCounts(); err != nil {
		_ = ll.Close()
		return nil, err
	}
	return st, nil
}

// ---------------------------------------------------------------------------- read back

// sampleVisitor receives every stored sample of a series in time order.
type seriesVisitor struct {
	series func(lbls labels.Labels) error
	float  func(t int64, v float64) error
	hist   func(t int64, h *histogram.FloatHistogram) error
}

func (s *store) walk(v seriesVisitor) error {
	q, err := s.db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		return err
	}
	defer q.Close()
	set := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".*"))
	var all []storage.Series
	for set.Next() {
		all = append(all, set.At())
	}
	if err := set.Err(); err != nil {
		return err
	}
	sort.SliceStable(all, func(i, j int) bool { return labels.Compare(all[i].Labels(), all[j].Labels()) < 0 })
	var it chunkenc.Iterator
	for _, series := range all {
		if err := v.series(series.Labels()); err != nil {
			return err
		}
		it = series.Iterator(it)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			switch vt {
			case chunkenc.ValFloat:
				t, f := it.At()
				err = v.float(t, f)
			case chunkenc.ValHistogram, chunkenc.ValFloatHistogram:
				t, h := it.AtFloatHistogram(nil)
				err = v.hist(t, h)
			default:
				err = fmt.Errorf("unexpected value type %v", vt)
			}
			if err != nil {
				return err
			}
		}
		if err := it.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (s *store) scanCounts() (loadCounts, error) {
	var c loadCounts
	err := s.walk(seriesVisitor{
		series: func(labels.Labels) error { c.Series++; return nil },
		float:  func(int64, float64) error { c.Floats++; return nil },
		hist:   func(int64, *histogram.FloatHistogram) error { c.Histograms++; return nil },
	})
	return c, err
}

// dump writes every stored sample as canonical dataset JSON: byte for byte what Python's
// Dataset.to_json() gives for the same data (sorted keys, no spaces, Python float repr).
func (s *store) dump(w *bytes.Buffer) error {
	w.WriteString(`{"series":[`)
	first := true
	firstSample := true
	closeSeries := func() {
		if !first {
			w.WriteString("]}")
		}
	}
	err := s.walk(seriesVisitor{
		series: func(lbls labels.Labels) error {
			closeSeries()
			if !first {
				w.WriteByte(',')
			}
			first = false
			firstSample = true
			w.WriteString(`{"labels":{`)
			i := 0
			lbls.Range(func(l labels.Label) {
				if i > 0 {
					w.WriteByte(',')
				}
				i++
				writePyString(w, l.Name)
				w.WriteByte(':')
				writePyString(w, l.Value)
			})
			w.WriteString(`},"samples":[`)
			return nil
		},
		float: func(t int64, v float64) error {
			if !firstSample {
				w.WriteByte(',')
			}
			firstSample = false
			w.WriteByte('[')
			w.WriteString(strconv.FormatInt(t, 10))
			w.WriteString(`,"`)
			w.WriteString(encodeFloat(v))
			w.WriteString(`"]`)
			return nil
		},
		hist: func(t int64, h *histogram.FloatHistogram) error {
			if !firstSample {
				w.WriteByte(',')
			}
			firstSample = false
			w.WriteByte('[')
			w.WriteString(strconv.FormatInt(t, 10))
			w.WriteByte(',')
			writeDatasetHistogram(w, h)
			w.WriteByte(']')
			return nil
		},
	})
	closeSeries()
	w.WriteString("]}")
	return err
}

// encodeFloat is promfuzz.model.encode_float: "stale", "NaN", "+Inf", "-Inf" or Python's repr.
func encodeFloat(f float64) string {
	switch {
	case value.IsStaleNaN(f):
		return "stale"
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return pyRepr(f)
}

// pyRepr formats a finite float exactly like Python's repr(): shortest round-trip digits,
// fixed notation with at least one decimal for exponents -4..15, else d.ddde+XX.
func pyRepr(f float64) string {
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // [-]d[.ddd]e[+-]XX
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es, exp = "-", -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
	}
	if exp < 0 {
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	if len(digits) <= exp+1 {
		return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + digits[:exp+1] + "." + digits[exp+1:]
}

// writePyString writes s as Python's json.dumps(ensure_ascii=False) does.
func writePyString(w *bytes.Buffer, s string) {
	w.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			w.WriteString(`\"`)
		case '\\':
			w.WriteString(`\\`)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		case '\t':
			w.WriteString(`\t`)
		case '\b':
			w.WriteString(`\b`)
		case '\f':
			w.WriteString(`\f`)
		default:
			if c < 0x20 {
				fmt.Fprintf(w, `\u%04x`, c)
			} else {
				w.WriteByte(c)
			}
		}
	}
	w.WriteByte('"')
}

// writeDatasetHistogram writes the dataset histogram form with sorted keys, omitting
// defaults exactly as promfuzz.model.Histogram.to_json does.
func writeDatasetHistogram(w *bytes.Buffer, h *histogram.FloatHistogram) {
	str := func(f float64) { w.WriteByte('"'); w.WriteString(encodeFloat(f)); w.WriteByte('"') }
	list := func(fs []float64) {
		w.WriteByte('[')
		for i, f := range fs {
			if i > 0 {
				w.WriteByte(',')
			}
			str(f)
		}
		w.WriteByte(']')
	}
	spanList := func(ss []histogram.Span) {
		w.WriteByte('[')
		for i, s := range ss {
			if i > 0 {
				w.WriteByte(',')
			}
			fmt.Fprintf(w, "[%d,%d]", s.Offset, s.Length)
		}
		w.WriteByte(']')
	}
	w.WriteString(`{"count":`)
	str(h.Count)
	if h.CounterResetHint != histogram.UnknownCounterReset {
		w.WriteString(`,"counter_reset_hint":"`)
		w.WriteString(hintNames[h.CounterResetHint])
		w.WriteByte('"')
	}
	if len(h.CustomValues) > 0 {
		w.WriteString(`,"custom_values":`)
		list(h.CustomValues)
	}
	if len(h.NegativeSpans) > 0 {
		w.WriteString(`,"negative_buckets":`)
		list(h.NegativeBuckets)
		w.WriteString(`,"negative_spans":`)
		spanList(h.NegativeSpans)
	}
	if len(h.PositiveSpans) > 0 {
		w.WriteString(`,"positive_buckets":`)
		list(h.PositiveBuckets)
		w.WriteString(`,"positive_spans":`)
		spanList(h.PositiveSpans)
	}
	fmt.Fprintf(w, `,"schema":%d,"sum":`, h.Schema)
	str(h.Sum)
	if h.ZeroCount != 0 {
		w.WriteString(`,"zero_count":`)
		str(h.ZeroCount)
	}
	if h.ZeroThreshold != 0 {
		w.WriteString(`,"zero_threshold":`)
		str(h.ZeroThreshold)
	}
	w.WriteByte('}')
}
