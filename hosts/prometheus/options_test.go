package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// loadedWith starts a host with options kv and the fixture loaded.
func loadedWith(t *testing.T, promqltestEngine bool, kv map[string]string) string {
	t.Helper()
	_, ts := newTestServer(t, mustHost(t, promqltestEngine, kv))
	if code, body := post(t, ts.URL+"/load", "application/json", fixture); code != 200 {
		t.Fatalf("load: %d %s", code, body)
	}
	return ts.URL
}

func instant(t *testing.T, base, q, ts string) string {
	t.Helper()
	code, body := get(t, base, "/api/v1/query", url.Values{"query": {q}, "time": {ts}})
	if code != 200 {
		t.Fatalf("%s: %d %s", q, code, body)
	}
	return envelope(t, body)
}

// The fixture's up{job="a"} has its last sample at 120s: at 180s a 5m lookback (the
// default) still sees it, a 30s lookback does not.
func TestLookbackOptionChangesAnswer(t *testing.T) {
	q := `up{job="a"}`
	def := instant(t, loadedWith(t, false, nil), q, "180")
	short := instant(t, loadedWith(t, false, map[string]string{hostkit.OptLookback: "30s"}), q, "180")
	if !strings.Contains(def, `"value":[180,"2"]`) {
		t.Fatalf("default lookback: %s", def)
	}
	if !strings.Contains(short, `"result":[]`) {
		t.Fatalf("lookback 30s: %s", short)
	}
}

// With delayed name removal the __name__ label is still there when label_replace runs
// on abs()'s output, so the copy appears; without it (the server's default) it does not.
func TestDelayedNameRemovalOptionChangesAnswer(t *testing.T) {
	q := `label_replace(abs(up), "copy", "$1", "__name__", "(.*)")`
	off := instant(t, loadedWith(t, false, nil), q, "60")
	on := instant(t, loadedWith(t, false, map[string]string{hostkit.OptDelayedNameRemoval: "true"}), q, "60")
	if strings.Contains(off, `"copy"`) {
		t.Fatalf("default (off) has the copy: %s", off)
	}
	if !strings.Contains(on, `"copy":"up"`) || strings.Contains(on, `"__name__"`) {
		t.Fatalf("on: want copy=up and no __name__ in the result: %s", on)
	}
	// The promqltest engine defaults to on, and the option turns it off.
	if pt := instant(t, loadedWith(t, true, nil), q, "60"); !strings.Contains(pt, `"copy":"up"`) {
		t.Fatalf("promqltest engine default: %s", pt)
	}
	if pt := instant(t, loadedWith(t, true, map[string]string{hostkit.OptDelayedNameRemoval: "false"}), q, "60"); strings.Contains(pt, `"copy"`) {
		t.Fatalf("promqltest engine with the option off: %s", pt)
	}
}

func TestConfigReportsEffectiveOptions(t *testing.T) {
	h := mustHost(t, false, map[string]string{hostkit.OptLookback: "90s"})
	got := h.Engines[0].Config
	if got[hostkit.OptLookback] != "1m30s" || got[hostkit.OptDelayedNameRemoval] != "false" {
		t.Fatalf("config: %v", got)
	}
}

func TestBadOptions(t *testing.T) {
	for kv, want := range map[[2]string]string{
		{"lookback", "soon"}:                "expected a non-negative duration",
		{"lookback", "0s"}:                  "give a positive duration",
		{"delayed_name_removal", "perhaps"}: "expected true or false",
	} {
		if _, err := newHost(false, hostkit.NewOptions(map[string]string{kv[0]: kv[1]})); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: err %v, want %q", kv, err, want)
		}
	}
	o := hostkit.NewOptions(map[string]string{"passes": "all"})
	if _, err := newHost(false, o); err != nil {
		t.Fatal(err)
	}
	if err := o.Check([]string{"lookback"}); err == nil || !strings.Contains(err.Error(), "unknown option(s) passes") {
		t.Fatalf("unknown option: %v", err)
	}
}
