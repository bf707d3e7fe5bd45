package main

// compat.go holds every call this host makes into the Prometheus API that differs between
// Prometheus versions: the parser constructor and its options, and how promqltest's test
// engine is configured. A host built for another version (promfuzz's prometheus@REV
// specs, docs/engines.md) compiles this file against it; v0.308.0 and older, for example,
// have no parser.NewParser (their parser switches are package globals: see
// hosts/thanos/compat.go for that API).

import (
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
)

// newParser is the parser of the engine and of /api/v1/parse: experimental functions and
// fill modifiers on. Duration expressions and anchored/smoothed range selectors need no
// option in this version; unquoted UTF-8 names stay off (not part of the fuzzed syntax).
func newParser() parser.Parser {
	return parser.NewParser(parser.Options{
		EnableExperimentalFunctions: true,
		EnableBinopFillModifiers:    true,
	})
}

// promqltestEngineParts configures opts like promqltest's built-in test engine (start
// timestamps) and returns that engine's parser (promqltest.TestParserOpts).
func promqltestEngineParts(opts *promql.EngineOpts) parser.Parser {
	opts.UseStartTimestamps = true
	return parser.NewParser(promqltest.TestParserOpts)
}

// setParser makes the engine parse with p.
func setParser(opts *promql.EngineOpts, p parser.Parser) { opts.Parser = p }
