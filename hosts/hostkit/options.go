package hostkit

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql"
)

// Options are the engine settings a host was started with: each `--option KEY=VALUE`
// (or `--option=KEY=VALUE`) on its command line (docs/host-protocol.md, "Engine
// options"). A host reads the keys it knows with String/Bool/Duration and then calls
// Check, which names any key nobody read, so a misspelt option is an error instead of
// being silently ignored. promfuzz's engine specs (docs/engines.md) are turned into these
// flags by promfuzz/engines/spec.py.
type Options struct {
	vals map[string]string
	used map[string]bool
}

// NewOptions builds Options from a map (tests).
func NewOptions(kv map[string]string) *Options {
	o := &Options{vals: map[string]string{}, used: map[string]bool{}}
	for k, v := range kv {
		o.vals[k] = v
	}
	return o
}

// TakeOptions removes every --option KEY=VALUE from args and returns them with the
// remaining arguments (which hostkit.Main parses).
func TakeOptions(args []string) (*Options, []string, error) {
	o := NewOptions(nil)
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		var kv string
		switch {
		case a == "--option" || a == "-option":
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("%s needs KEY=VALUE", a)
			}
			i++
			kv = args[i]
		case strings.HasPrefix(a, "--option=") || strings.HasPrefix(a, "-option="):
			kv = a[strings.Index(a, "=")+1:]
		default:
			rest = append(rest, a)
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, nil, fmt.Errorf("--option %q: expected KEY=VALUE", kv)
		}
		if _, dup := o.vals[k]; dup {
			return nil, nil, fmt.Errorf("--option %s given twice", k)
		}
		o.vals[k] = v
	}
	return o, rest, nil
}

// Has reports whether key was given (and marks it read).
func (o *Options) Has(key string) bool {
	_, ok := o.vals[key]
	o.used[key] = true
	return ok
}

// String returns the value of key, or def when it was not given.
func (o *Options) String(key, def string) string {
	o.used[key] = true
	if v, ok := o.vals[key]; ok {
		return v
	}
	return def
}

// Bool returns key as a boolean (true/false, on/off, 1/0), or def.
func (o *Options) Bool(key string, def bool) (bool, error) {
	o.used[key] = true
	v, ok := o.vals[key]
	if !ok {
		return def, nil
	}
	switch strings.ToLower(v) {
	case "true", "on", "1", "yes":
		return true, nil
	case "false", "off", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("option %s=%q: expected true or false", key, v)
}

// Duration returns key as a duration (Go syntax: 30s, 5m, 1h30m), or def.
func (o *Options) Duration(key string, def time.Duration) (time.Duration, error) {
	o.used[key] = true
	v, ok := o.vals[key]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("option %s=%q: expected a non-negative duration such as 30s or 5m", key, v)
	}
	return d, nil
}

// Int returns key as an integer, or def.
func (o *Options) Int(key string, def int) (int, error) {
	o.used[key] = true
	v, ok := o.vals[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("option %s=%q: expected an integer", key, v)
	}
	return n, nil
}

// Check fails when an option was given that no reader asked for; known lists the
// host's option names for the message.
func (o *Options) Check(known []string) error {
	var unknown []string
	for k := range o.vals {
		if !o.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("unknown option(s) %s; this host knows: %s", strings.Join(unknown, ", "), strings.Join(known, ", "))
}

// FormatBool and FormatDuration are how hosts report effective settings in
// Engine.Config (the same spelling promfuzz's specs normalize to).
func FormatBool(b bool) string { return strconv.FormatBool(b) }

// FormatDuration prints a duration in units both PromQL and Go parse (5m, 30s, 1h30m, 0s).
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	ms := d.Milliseconds()
	var b strings.Builder
	for _, u := range []struct {
		n string
		v int64
	}{{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}} {
		if ms >= u.v {
			fmt.Fprintf(&b, "%d%s", ms/u.v, u.n)
			ms %= u.v
		}
	}
	return b.String()
}

// Option names every host knows (docs/engines.md).
const (
	OptLookback           = "lookback"
	OptDelayedNameRemoval = "delayed_name_removal"
)

// ApplyCommonOptions reads the options every engine family takes into Prometheus engine
// options: lookback (the staleness lookback delta, default LookbackDelta, what a
// Prometheus server ships: --query.lookback-delta=5m) and delayed_name_removal
// (EnableDelayedNameRemoval, default false: Prometheus's feature flag
// promql-delayed-name-removal is off by default; dnrDefault says otherwise for an engine
// configured like a test harness). It returns the effective values as
// Engine.Config entries.
func ApplyCommonOptions(o *Options, opts *promql.EngineOpts, dnrDefault bool) (map[string]string, error) {
	lb, err := o.Duration(OptLookback, LookbackDelta)
	if err != nil {
		return nil, err
	}
	if lb == 0 {
		// Every engine treats 0 as "use the default"; say so instead of pretending.
		return nil, fmt.Errorf("option %s=0s: engines read a zero lookback as their default (5m); give a positive duration", OptLookback)
	}
	dnr, err := o.Bool(OptDelayedNameRemoval, dnrDefault)
	if err != nil {
		return nil, err
	}
	opts.LookbackDelta = lb
	opts.EnableDelayedNameRemoval = dnr
	return map[string]string{OptLookback: FormatDuration(lb), OptDelayedNameRemoval: FormatBool(dnr)}, nil
}
