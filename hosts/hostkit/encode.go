package hostkit

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// The encoders below write what Prometheus's web API writes (web/api/v1/json_codec.go,
// util/jsonutil and promql.Scalar/String MarshalJSON), byte for byte, with one extension:
// with full=true every histogram object gets a "full" member in the dataset histogram form.

// writeAPITimestamp is jsonutil.MarshalTimestamp: milliseconds as float seconds.
func writeAPITimestamp(w *bytes.Buffer, t int64) {
	if t < 0 {
		w.WriteByte('-')
		t = -t
	}
	w.WriteString(strconv.FormatInt(t/1000, 10))
	if frac := t % 1000; frac != 0 {
		w.WriteByte('.')
		if frac < 100 {
			w.WriteByte('0')
		}
		if frac < 10 {
			w.WriteByte('0')
		}
		w.WriteString(strconv.FormatInt(frac, 10))
	}
}

// writeAPIFloat is jsonutil.MarshalFloat: a quoted shortest decimal, exponent form only
// for very small or large magnitudes; NaN and infinities as "NaN", "+Inf", "-Inf".
func writeAPIFloat(w *bytes.Buffer, f float64) {
	w.WriteByte('"')
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.Write(strconv.AppendFloat(w.AvailableBuffer(), f, format, -1, 64))
	w.WriteByte('"')
}

func writeJSONString(w *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // the standard library's escaping, as jsoniter's compatible config
	w.Write(b)
}

func writeLabels(w *bytes.Buffer, lbls labels.Labels) {
	w.WriteByte('{')
	i := 0
	lbls.Range(func(l labels.Label) {
		if i > 0 {
			w.WriteByte(',')
		}
		i++
		writeJSONString(w, l.Name)
		w.WriteByte(':')
		writeJSONString(w, l.Value)
	})
	w.WriteByte('}')
}

// writeAPIHistogram is jsonutil.MarshalHistogram (non-empty buckets with the boundary
// rule: 0 (a,b], 1 [a,b), 2 (a,b), 3 [a,b]) plus the optional "full" member.
func writeAPIHistogram(w *bytes.Buffer, h *histogram.FloatHistogram, full bool) {
	w.WriteString(`{"count":`)
	writeAPIFloat(w, h.Count)
	w.WriteString(`,"sum":`)
	writeAPIFloat(w, h.Sum)
	found := false
	it := h.AllBucketIterator()
	for it.Next() {
		b := it.At()
		if b.Count == 0 {
			continue
		}
		if !found {
			w.WriteString(`,"buckets":[`)
		} else {
			w.WriteByte(',')
		}
		found = true
		boundaries := 2
		if b.LowerInclusive {
			if b.UpperInclusive {
				boundaries = 3
			} else {
				boundaries = 1
			}
		} else if b.UpperInclusive {
			boundaries = 0
		}
		w.WriteByte('[')
		w.WriteString(strconv.Itoa(boundaries))
		w.WriteByte(',')
		writeAPIFloat(w, b.Lower)
		w.WriteByte(',')
		writeAPIFloat(w, b.Upper)
		w.WriteByte(',')
		writeAPIFloat(w, b.Count)
		w.WriteByte(']')
	}
	if found {
		w.WriteByte(']')
	}
	if full {
		w.WriteString(`,"full":`)
		writeDatasetHistogram(w, h)
	}
	w.WriteByte('}')
}

func writeSample(w *bytes.Buffer, s promql.Sample, full bool) {
	w.WriteString(`{"metric":`)
	writeLabels(w, s.Metric)
	if s.H == nil {
		w.WriteString(`,"value":[`)
		writeAPITimestamp(w, s.T)
		w.WriteByte(',')
		writeAPIFloat(w, s.F)
	} else {
		w.WriteString(`,"histogram":[`)
		writeAPITimestamp(w, s.T)
		w.WriteByte(',')
		writeAPIHistogram(w, s.H, full)
	}
	w.WriteString("]}")
}

func writeSeries(w *bytes.Buffer, s promql.Series, full bool) {
	w.WriteString(`{"metric":`)
	writeLabels(w, s.Metric)
	if len(s.Floats) > 0 {
		w.WriteString(`,"values":[`)
		for i, p := range s.Floats {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteByte('[')
			writeAPITimestamp(w, p.T)
			w.WriteByte(',')
			writeAPIFloat(w, p.F)
			w.WriteByte(']')
		}
		w.WriteByte(']')
	}
	if len(s.Histograms) > 0 {
		w.WriteString(`,"histograms":[`)
		for i, p := range s.Histograms {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteByte('[')
			writeAPITimestamp(w, p.T)
			w.WriteByte(',')
			writeAPIHistogram(w, p.H, full)
			w.WriteByte(']')
		}
		w.WriteByte(']')
	}
	w.WriteByte('}')
}

// writeValue writes data.result for a query value; it returns the resultType.
func writeValue(w *bytes.Buffer, v parser.Value, full bool) string {
	switch v := v.(type) {
	case promql.Vector:
		w.WriteByte('[')
		for i, s := range v {
			if i > 0 {
				w.WriteByte(',')
			}
			writeSample(w, s, full)
		}
		w.WriteByte(']')
		return string(parser.ValueTypeVector)
	case promql.Matrix:
		w.WriteByte('[')
		for i, s := range v {
			if i > 0 {
				w.WriteByte(',')
			}
			writeSeries(w, s, full)
		}
		w.WriteByte(']')
		return string(parser.ValueTypeMatrix)
	case promql.Scalar:
		b, _ := json.Marshal([...]any{float64(v.T) / 1000, strconv.FormatFloat(v.V, 'f', -1, 64)})
		w.Write(b)
		return string(parser.ValueTypeScalar)
	case promql.String:
		b, _ := json.Marshal([...]any{float64(v.T) / 1000, v.V})
		w.Write(b)
		return string(parser.ValueTypeString)
	default:
		b, _ := json.Marshal(v)
		w.Write(b)
		return string(v.Type())
	}
}
