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
	// Fed to the hash through a small buffer: a long range of many-bucket histograms is
	// hundreds of MB of fields, which need not be held at once.
	h := sha256.New()
	b := make([]byte, 0, 64<<10)
	u64 := func(x uint64) {
		if len(b) > cap(b)-8 {
			h.Write(b)
			b = b[:0]
		}
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	f64 := func(f float64) { u64(math.Float64bits(f)) }
	str := func(s string) {
		u64(uint64(len(s)))
		if len(s) > cap(b)-len(b) {
			h.Write(b)
			b = b[:0]
			if len(s) > cap(b) {
				h.Write([]byte(s))
				return
			}
		}
		b = append(b, s...)
	}
	tag := func(c byte) { u64(uint64(c)) }
	lbls := func(l labels.Labels) {
		u64(uint64(l.Len()))
		l.Range(func(x labels.Label) { str(x.Name); str(x.Value) })
	}
	hist := func(fh *histogram.FloatHistogram) {
		u64(uint64(fh.CounterResetHint))
		u64(uint64(int64(fh.Schema)))
		f64(fh.ZeroThreshold)
		f64(fh.ZeroCount)
		f64(fh.Count)
		f64(fh.Sum)
		for _, spans := range [][]histogram.Span{fh.PositiveSpans, fh.NegativeSpans} {
			u64(uint64(len(spans)))
			for _, s := range spans {
				u64(uint64(int64(s.Offset)))
				u64(uint64(s.Length))
			}
		}
		for _, fs := range [][]float64{fh.PositiveBuckets, fh.NegativeBuckets, fh.CustomValues} {
			u64(uint64(len(fs)))
			for _, f := range fs {
				f64(f)
			}
		}
	}
	switch v := v.(type) {
	case promql.Vector:
		tag('V')
		for _, s := range v {
			lbls(s.Metric)
			u64(uint64(s.T))
			if s.H == nil {
				tag('f')
				f64(s.F)
			} else {
				tag('h')
				hist(s.H)
			}
		}
	case promql.Matrix:
		tag('M')
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
		tag('S')
		u64(uint64(v.T))
		f64(v.V)
	case promql.String:
		tag('s')
		u64(uint64(v.T))
		str(v.V)
	default:
		tag('?')
		str(v.String())
	}
	h.Write(b)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}
