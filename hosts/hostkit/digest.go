package hostkit

import (
	"crypto/sha256"
	"encoding/binary"
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// valueDigest hashes a query value without encoding it as JSON: labels, timestamps and the
// bits of every float and histogram field, in the order the answer lists them. Two values
// with equal digests encode to identical JSON; the converse does not hold (NaN payloads and
// histogram hints count here, not in JSON), which only costs a client a needless look.
// Batches with "bodies":"none" use it, so answers a client will not read are never encoded.
func valueDigest(v parser.Value) [32]byte {
	b := make([]byte, 0, 4096)
	u64 := func(x uint64) { b = binary.LittleEndian.AppendUint64(b, x) }
	f64 := func(f float64) { u64(math.Float64bits(f)) }
	str := func(s string) { u64(uint64(len(s))); b = append(b, s...) }
	lbls := func(l labels.Labels) {
		u64(uint64(l.Len()))
		l.Range(func(x labels.Label) { str(x.Name); str(x.Value) })
	}
	hist := func(h *histogram.FloatHistogram) {
		u64(uint64(h.CounterResetHint))
		u64(uint64(int64(h.Schema)))
		f64(h.ZeroThreshold)
		f64(h.ZeroCount)
		f64(h.Count)
		f64(h.Sum)
		for _, spans := range [][]histogram.Span{h.PositiveSpans, h.NegativeSpans} {
			u64(uint64(len(spans)))
			for _, s := range spans {
				u64(uint64(int64(s.Offset)))
				u64(uint64(s.Length))
			}
		}
		for _, fs := range [][]float64{h.PositiveBuckets, h.NegativeBuckets, h.CustomValues} {
			u64(uint64(len(fs)))
			for _, f := range fs {
				f64(f)
			}
		}
	}
	switch v := v.(type) {
	case promql.Vector:
		b = append(b, 'V')
		for _, s := range v {
			lbls(s.Metric)
			u64(uint64(s.T))
			if s.H == nil {
				b = append(b, 'f')
				f64(s.F)
			} else {
				b = append(b, 'h')
				hist(s.H)
			}
		}
	case promql.Matrix:
		b = append(b, 'M')
		for _, s := range v {
			lbls(s.Metric)
			u64(uint64(len(s.Floats)))
			for _, p := range s.Floats {
				u64(uint64(p.T))
				f64(p.F)
			}
			u64(uint64(len(s.Histograms)))
			for _, p := range s.Histograms {
				u64(uint64(p.T))
				hist(p.H)
			}
		}
	case promql.Scalar:
		b = append(b, 'S')
		u64(uint64(v.T))
		f64(v.V)
	case promql.String:
		b = append(b, 's')
		u64(uint64(v.T))
		str(v.V)
	default:
		b = append(b, '?')
		str(v.String())
	}
	return sha256.Sum256(b)
}
