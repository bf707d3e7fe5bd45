// SPDX-License-Identifier: AGPL-3.0-only

package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"slices"
	"sort"
	"strconv"

	"github.com/cortexproject/promqlsmith"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/promfuzz/promfuzz/hosts/hostkit"
)

// maxGenerate caps the number of queries one /generate request may ask for.
const maxGenerate = 10000

// generatedQuery is one query of a /generate answer.
type generatedQuery struct {
	Query string `json:"query"`
	Kind  string `json:"kind"` // "instant" or "range": the Walk it came from
}

// smithStringArgFunctions are the functions with string arguments that promqlsmith knows
// how to fill; for any other string argument (e.g. histogram_quantiles) it leaves a nil
// argument behind, which panics when printed.
var smithStringArgFunctions = map[string]bool{
	"label_join": true, "label_replace": true, "sort_by_label": true, "sort_by_label_desc": true,
}

// smithFunctions is every function of the parser's table (the fork's, experimental ones
// included) that promqlsmith can fill, sorted by name, without holt_winters: importing MQE
// re-adds it, but upstream Prometheus 3 does not know it, so it would only produce
// parse-error divergences.
func smithFunctions() []*parser.Function {
	names := make([]string, 0, len(parser.Functions))
	for name, f := range parser.Functions {
		if name != "holt_winters" && (smithStringArgFunctions[name] || !slices.Contains(f.ArgTypes, parser.ValueTypeString)) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := make([]*parser.Function, len(names))
	for i, n := range names {
		out[i] = parser.Functions[n]
	}
	return out
}

// smithAggregations is promqlsmith's default aggregation list plus the experimental ones.
var smithAggregations = []parser.ItemType{
	parser.SUM, parser.MIN, parser.MAX, parser.AVG, parser.COUNT, parser.GROUP,
	parser.STDDEV, parser.STDVAR, parser.TOPK, parser.BOTTOMK, parser.QUANTILE,
	parser.COUNT_VALUES, parser.LIMITK, parser.LIMIT_RATIO,
}

// handleGenerate serves POST /generate (seed, n, kind=mixed|instant|range, depth): n
// queries from github.com/cortexproject/promqlsmith over the loaded series, with every
// option it has turned on. A benchmark baseline only (see docs/host-protocol.md).
func handleGenerate(s *hostkit.Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			generateError(w, err.Error())
			return
		}
		seed, err := formInt(r, "seed", 0)
		if err != nil {
			generateError(w, err.Error())
			return
		}
		n, err := formInt(r, "n", 100)
		if err == nil && (n < 0 || n > maxGenerate) {
			err = fmt.Errorf("n must be in [0, %d]", maxGenerate)
		}
		if err != nil {
			generateError(w, err.Error())
			return
		}
		depth, err := formInt(r, "depth", 5)
		if err == nil && (depth < 1 || depth > 20) {
			err = fmt.Errorf("depth must be in [1, 20]")
		}
		if err != nil {
			generateError(w, err.Error())
			return
		}
		kind := r.Form.Get("kind")
		if kind == "" {
			kind = "mixed"
		}
		if kind != "mixed" && kind != "instant" && kind != "range" {
			generateError(w, "kind must be mixed, instant or range")
			return
		}
		series, _, maxT, err := s.LoadedSeries()
		if err != nil {
			generateError(w, "reading the loaded series: "+err.Error())
			return
		}
		if len(series) == 0 {
			generateError(w, "no series loaded: POST /load first")
			return
		}
		rnd := rand.New(rand.NewSource(seed))
		smith := promqlsmith.New(rnd, series,
			promqlsmith.WithEnableOffset(true),
			promqlsmith.WithEnableAtModifier(true),
			promqlsmith.WithAtModifierMaxTimestamp(max(maxT, 1)), // ms
			promqlsmith.WithEnableVectorMatching(true),
			promqlsmith.WithEnabledFunctions(smithFunctions()),
			promqlsmith.WithEnabledAggrs(smithAggregations),
			promqlsmith.WithMaxDepth(int(depth)),
		)
		out := make([]generatedQuery, 0, n)
		skipped := int64(0)
		for i := int64(0); i < n; i++ {
			k := kind
			if k == "mixed" {
				k = [2]string{"instant", "range"}[rnd.Intn(2)]
			}
			text, ok := walkString(smith, k == "instant")
			if !ok { // promqlsmith built an incomplete expression: ask again
				skipped++
				if skipped > 10*n+100 {
					generateError(w, "promqlsmith keeps building incomplete expressions")
					return
				}
				i--
				continue
			}
			out = append(out, generatedQuery{Query: text, Kind: k})
		}
		b, _ := json.Marshal(map[string]any{"status": "success", "queries": out, "skipped": skipped})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
}

// walkString generates one expression and prints it; false when printing panics (a nil
// node left by promqlsmith).
func walkString(smith *promqlsmith.PromQLSmith, instant bool) (text string, ok bool) {
	defer func() {
		if recover() != nil {
			text, ok = "", false
		}
	}()
	var e parser.Expr
	if instant {
		e = smith.WalkInstantQuery()
	} else {
		e = smith.WalkRangeQuery()
	}
	return e.String(), true
}

func formInt(r *http.Request, name string, def int64) (int64, error) {
	v := r.Form.Get(name)
	if v == "" {
		return def, nil
	}
	i, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad %s %q: %v", name, v, err)
	}
	return i, nil
}

func generateError(w http.ResponseWriter, msg string) {
	b, _ := json.Marshal(map[string]string{"status": "error", "errorType": "bad_data", "error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(b)
}
