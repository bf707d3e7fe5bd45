package hostkit

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/value"
)

// Expected strings are Python's repr() of the same floats (promfuzz.model.encode_float).
func TestEncodeFloatMatchesPythonRepr(t *testing.T) {
	cases := []struct {
		f    float64
		want string
	}{
		{1.0, "1.0"}, {0.1, "0.1"}, {1.5, "1.5"}, {100.0, "100.0"},
		{1e15, "1000000000000000.0"}, {1e16, "1e+16"}, {1.2345e16, "1.2345e+16"},
		{123456789012345.6, "123456789012345.6"}, {0.0001, "0.0001"}, {1e-05, "1e-05"},
		{0.00012345, "0.00012345"}, {1.5e-07, "1.5e-07"}, {5e-324, "5e-324"},
		{1.7976931348623157e308, "1.7976931348623157e+308"}, {-2.5, "-2.5"},
		{math.Copysign(0, -1), "-0.0"}, {0, "0.0"}, {1.0 / 3, "0.3333333333333333"},
		{9007199254740992, "9007199254740992.0"}, {1e22, "1e+22"}, {12345.678, "12345.678"},
		{0.30000000000000004, "0.30000000000000004"},
		{math.NaN(), "NaN"}, {math.Float64frombits(value.StaleNaN), "stale"},
		{math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"},
	}
	for _, c := range cases {
		if got := encodeFloat(c.f); got != c.want {
			t.Errorf("encodeFloat(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}

// Expected strings are Python's json.dumps(s, ensure_ascii=False).
func TestPyStringMatchesPythonJSON(t *testing.T) {
	cases := map[string]string{
		`plain`:           `"plain"`,
		"q\"b\\n\n\t\r":   `"q\"b\\n\n\t\r"`,
		"\x01\x1f\x7f<&>": "\"\\u0001\\u001f\x7f<&>\"",
		"ünï\u2028":       "\"ünï\u2028\"",
		"\b\f":            `"\b\f"`,
	}
	for in, want := range cases {
		var b bytes.Buffer
		writePyString(&b, in)
		if b.String() != want {
			t.Errorf("writePyString(%q) = %s, want %s", in, b.String(), want)
		}
	}
}

// Expected strings are what Prometheus's util/jsonutil writes.
func TestAPIFloatAndTimestampLikeJsonutil(t *testing.T) {
	floats := map[float64]string{
		1: `"1"`, 0.5: `"0.5"`, 1e-7: `"1e-07"`, 1e21: `"1e+21"`, 1e20: `"100000000000000000000"`,
		math.NaN(): `"NaN"`, math.Inf(-1): `"-Inf"`, -3.25: `"-3.25"`,
	}
	for f, want := range floats {
		var b bytes.Buffer
		writeAPIFloat(&b, f)
		if b.String() != want {
			t.Errorf("writeAPIFloat(%v) = %s, want %s", f, b.String(), want)
		}
	}
	stamps := map[int64]string{0: "0", 1500: "1.500", 1005: "1.005", 1050: "1.050", -1500: "-1.500", 60000: "60"}
	for ms, want := range stamps {
		var b bytes.Buffer
		writeAPITimestamp(&b, ms)
		if b.String() != want {
			t.Errorf("writeAPITimestamp(%d) = %s, want %s", ms, b.String(), want)
		}
	}
}

func TestParseTimeAndDurationLikePrometheusAPI(t *testing.T) {
	tm, err := parseTime("1.0006")
	if err != nil || tm.UnixMilli() != 1001 {
		t.Errorf("parseTime rounds to milliseconds: %v %v", tm.UnixMilli(), err)
	}
	if tm, err := parseTime("1970-01-01T00:01:00Z"); err != nil || tm.UnixMilli() != 60000 {
		t.Errorf("RFC 3339: %v %v", tm, err)
	}
	if _, err := parseTime("soon"); err == nil || err.Error() != `cannot parse "soon" to a valid timestamp` {
		t.Errorf("bad time error: %v", err)
	}
	for in, want := range map[string]time.Duration{"15": 15 * time.Second, "0.5": 500 * time.Millisecond, "1m30s": 90 * time.Second} {
		if d, err := parseDuration(in); err != nil || d != want {
			t.Errorf("parseDuration(%q) = %v %v, want %v", in, d, err, want)
		}
	}
	if _, err := parseDuration("1e300"); err == nil {
		t.Error("an overflowing duration must be refused")
	}
}
