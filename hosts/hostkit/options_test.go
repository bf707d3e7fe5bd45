package hostkit

import (
	"strings"
	"testing"
	"time"
)

func TestTakeOptions(t *testing.T) {
	o, rest, err := TakeOptions([]string{"--listen", "127.0.0.1:0", "--option", "lookback=30s", "--option=pass.x=false", "-exit-on-stdin-eof=false"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rest, " ") != "--listen 127.0.0.1:0 -exit-on-stdin-eof=false" {
		t.Fatalf("rest: %v", rest)
	}
	if d, err := o.Duration("lookback", time.Minute); err != nil || d != 30*time.Second {
		t.Fatalf("lookback: %v %v", d, err)
	}
	if b, err := o.Bool("pass.x", true); err != nil || b {
		t.Fatalf("pass.x: %v %v", b, err)
	}
	if err := o.Check(nil); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"--option"}, {"--option", "novalue"}, {"--option=a=1", "--option=a=2"}} {
		if _, _, err := TakeOptions(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	o, _, _ = TakeOptions([]string{"--option=typo=1"})
	if err := o.Check([]string{"lookback"}); err == nil || !strings.Contains(err.Error(), "unknown option(s) typo; this host knows: lookback") {
		t.Fatalf("unknown: %v", err)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 5 * time.Minute: "5m", 90 * time.Second: "1m30s", 1500 * time.Millisecond: "1s500ms", 25 * time.Hour: "25h"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("%v: %s, want %s", d, got, want)
		}
		if back, err := time.ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("%v does not parse back: %v %v", d, back, err)
		}
	}
}
