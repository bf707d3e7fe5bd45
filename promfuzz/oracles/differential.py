"""Differential oracle: the target engine must answer a query as the reference does.

Property: for the same data, query and evaluation parameters, the target's
:class:`~promfuzz.model.Result` equals the reference's under the comparator's rules
(:mod:`promfuzz.oracles.compare`).

Outcomes, in this order:

1. the target declined the query as unsupported (and the reference did not) ->
   ``unsupported``; its signature is the engine's normalised reason (what it says it does
   not support), so one missing feature is one signature whatever the query;
2. either side crashed, panicked, hung or timed out -> ``engine_failure`` (the signature's
   error classes say which side); a panic, also one the engine recovered and reported as
   ``unexpected error: runtime error: ...``, has the qualifier ``panic: <message>``
   (:func:`panic_message`);
3. the answers agree -> ``match``;
4. every difference is explained by known-difference rules -> ``expected`` (with the rule
   ids);
5. otherwise -> ``divergence``.

Does not apply (returns ``not_applicable``) when the reference itself declined the query
as unsupported: there is nothing to compare against.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

from promfuzz.model import Case, Histogram, Result
from promfuzz.oracles._query import query_features
from promfuzz.oracles.compare import ComparisonConfig, compare_results, error_class, error_kind, is_panic_message
from promfuzz.oracles.known import RuleSet
from promfuzz.oracles.aspects import data_aspect
from promfuzz.oracles.verdict import PANIC_PREFIX, Signature, Verdict, signature_features

ORACLE = "differential"
_NUMBERS = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b|[-+]?Inf\b|NaN\b")


# Thanos promql-engine wraps its sentinel errors around the expression it refused, printed
# in full: "got: <expr> (*logicalplan.Subquery): unsupported expression" (execution.go),
# "got <expr>:: expression not implemented" (function/operator.go). The construct is the
# node type, else the outermost function or operator of the printed expression.
_THANOS_CAUSES = r"(?P<cause>unsupported expression|expression not implemented)"
_GOT_TYPED_RE = re.compile(r"^got:? (?P<expr>.*) \((?P<type>\*?[A-Za-z_][\w.]*)\):\s*" + _THANOS_CAUSES + r"$", re.S)
_GOT_EXPR_RE = re.compile(r"^got:? (?P<expr>.*?)[:\s]*:\s*" + _THANOS_CAUSES + r"$", re.S)
_LEADING_CALL_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def unsupported_reason(message: str) -> str:
    """What an engine says it does not support, as the construct it names (a signature
    part): without positions, numbers, label sets or the query text that some engines
    (Thanos) print around it, so one missing feature is one reason whatever the query."""
    text = error_kind(message).strip()
    for prefix in ("not supported by streaming engine:", "unsupported expression:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):].strip()
    m = _GOT_TYPED_RE.match(text)
    if m:
        return f"{m['cause']}: {m['type']}"
    m = _GOT_EXPR_RE.match(text)
    if m:
        return f"{m['cause']}: {_construct(m['expr'])}"
    return _NUMBERS.sub("N", _LABELSET_RE.sub("{…}", text))[:120]


def _construct(expr: str) -> str:
    """The outermost construct of a printed expression: ``fn <name>`` for a call of a
    function or aggregation, ``unary -`` for a negation, else ``expression``."""
    m = _LEADING_CALL_RE.match(expr)
    if m:
        from promfuzz.promql.functions import AGGREGATIONS, FUNCTIONS

        if m[1] in FUNCTIONS or m[1] in AGGREGATIONS:
            return f"fn {m[1]}"
    if expr.lstrip().startswith(("-", "+")):
        return "unary " + expr.lstrip()[0]
    return "expression"


_PANIC_LINE_RE = re.compile(r"(?m)^\s*panic: (?P<msg>[^\n]*)")
_RUNTIME_ERROR_RE = re.compile(r"(?<!\w)(?P<msg>runtime error: [^\n]*)")
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+")
_LEADING_UNEXPECTED_RE = re.compile(r"^(?:panic: |unexpected (?:error|panic): )+")


def panic_message(r: Result) -> str | None:
    """The normalized message of an engine panic in ``r``, or None.

    A panic shows up in three ways: the host recovered it (error type ``engine_panic``,
    ``panic: <value>`` and a stack trace), the engine recovered a runtime error itself and
    answered ``unexpected error: runtime error: ...`` (Prometheus's and promql-engine's
    recover handlers, an ordinary execution error on the wire; promql-engine's concurrent
    operators say ``unexpected panic: <value>``, the same bug), or the host process died
    and its stderr tail holds Go's ``panic: ...`` line. The message is its first line with
    addresses and numbers taken out (``index out of range [N] with length N``)."""
    if r.error is None:
        return None
    text = r.error.message
    m = _RUNTIME_ERROR_RE.search(text) or _PANIC_LINE_RE.search(text)
    if m is not None:
        msg = m["msg"]
    else:
        # Any other text the comparator calls a crash (is_panic_message: "unexpected
        # error", "concurrent map writes", ...): the line that says so.
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        crash = [ln for ln in lines if is_panic_message(ln)]
        if crash:
            msg = crash[0]
        elif r.error.error_type == "engine_panic":
            msg = lines[0] if lines else "(no message)"
        else:
            return None
        msg = _LEADING_UNEXPECTED_RE.sub("", msg)
    msg = _HEX_RE.sub("0x…", _LABELSET_RE.sub("{…}", error_kind(msg.strip())))
    return _NUMBERS.sub("N", msg)[:160]


_ERROR_CATEGORIES = ("error_vs_result", "error_class")
_LABELSET_RE = re.compile(r"\{[^{}]*\}")


def error_qualifier(ref: Result, tgt: Result) -> str:
    """The normalized error message(s) of a pair where one or both sides failed:
    positions, numbers and label sets removed, so one bug gives one string."""
    parts = []
    for side, r in (("ref", ref), ("tgt", tgt)):
        if r.error is not None:
            parts.append(f"{side}: {normalize_error_message(r.error.message)[:100]}")
    return " | ".join(parts)


_API_PREFIX = 'invalid parameter "query": '


_QUOTED_RE = re.compile(r'"[^"]*"|`[^`]*`')
_METRIC_NAME_TAIL_RE = re.compile(r"\s+for metric name.*$")


def annotation_qualifier(differences: Iterable[Any]) -> str:
    """The kinds of annotations one side has and the other lacks, normalized like error
    messages (and without quoted strings and the 'for metric name ...' tail)."""
    kinds = set()
    for d in differences:
        text = d.ref or d.tgt or d.message
        text = _METRIC_NAME_TAIL_RE.sub("", _QUOTED_RE.sub('"…"', text))
        kinds.add(f"{d.detail}: {normalize_error_message(text)[:90]}")
    return " | ".join(sorted(kinds))


def normalize_error_message(message: str) -> str:
    """An error message with what varies from query to query taken out: positions,
    numbers, label sets, the API's parameter prefix, and function names that the message
    mentions without quotes ("... - not with max_over_time" is one bug for every function;
    a quoted name such as unknown function "min_of" stays, each missing one is its own)."""
    msg = error_kind(message)
    if msg.startswith(_API_PREFIX):
        msg = msg[len(_API_PREFIX):]
    msg = _LABELSET_RE.sub("{…}", msg)
    msg = _function_names_re().sub("<fn>", msg)
    return _NUMBERS.sub("N", msg).strip()


@lru_cache(maxsize=1)
def _function_names_re() -> re.Pattern[str]:
    from promfuzz.promql.functions import AGGREGATIONS, FUNCTIONS

    names = sorted(set(FUNCTIONS) | set(AGGREGATIONS), key=len, reverse=True)
    return re.compile(r'(?<!["\w])(?:' + "|".join(map(re.escape, names)) + r')(?![\w"])')


_FAILURES = ("engine_failure", "timeout")


class DifferentialOracle:
    """Compare a target engine's answer with a reference engine's."""

    name = ORACLE

    def __init__(
        self,
        config: ComparisonConfig | None = None,
        rules: RuleSet | None = None,
        versions: Mapping[str, str] | None = None,
    ) -> None:
        """``versions`` maps engine names to versions, for rules with a version range."""
        self.config = config or ComparisonConfig()
        self.rules = rules or RuleSet()
        self.versions = dict(versions or {})

    def check(self, case: Case, ref: Result, tgt: Result, detail: bool = True,
              operand: Callable[[str], Result | None] | None = None) -> Verdict:
        """Judge one pair. ``detail=False`` skips building the human-readable diff (costly,
        deepdiff) for callers that only count verdicts; signatures are the same.
        ``operand``: the reference engine's answer to a subexpression's text on the case's
        data and parameters (see :func:`~promfuzz.oracles.compare.compare_results`); without
        it a topk/bottomk/limitk pick that differs from the reference's is a difference."""
        rc, tc = error_class(ref), error_class(tgt)
        classes = (rc or "ok", tc or "ok")
        features = query_features(case.query)
        sig_features = signature_features(features)
        if rc == "unsupported":
            return Verdict.not_applicable(ORACLE, f"the reference ({ref.engine}) does not support the query")
        if tc == "unsupported":
            # The engine's message names what it does not support ("unknown binary operation:
            # </", "'fill' modifier"): that, not the query's features, identifies the gap.
            # The reference's outcome (an answer or an error) does not change what the
            # target lacks, so it is not part of this signature.
            msg = tgt.error.message if tgt.error else ""
            return Verdict(
                "unsupported", ORACLE,
                signature=Signature(ORACLE, "unsupported", (), (), tgt.engine, unsupported_reason(msg)),
                reason=msg, detail=f"{tgt.engine} does not support: {case.query}\n{msg}",
            )
        ref_panic, tgt_panic = panic_message(ref), panic_message(tgt)
        if ref_panic is not None or tgt_panic is not None:
            # A panic is a crash whatever the error class on the wire ("unexpected error:
            # runtime error: ..." is an execution error): one signature per message. What
            # the other side answered does not matter (it is "any"): otherwise one crash
            # splits by whether the reference answered or rejected the query, and the
            # shrinker could not drop a modifier the reference rejects.
            failed = tgt if tgt_panic is not None else ref
            msg = failed.error.message if failed.error else ""
            panic_classes = tuple("engine_failure" if p is not None else "any" for p in (ref_panic, tgt_panic))
            return Verdict(
                "engine_failure", ORACLE,
                signature=Signature(ORACLE, "engine_failure", sig_features, panic_classes, tgt.engine,
                                    PANIC_PREFIX + (tgt_panic if tgt_panic is not None else ref_panic or "")),
                reason=msg, detail=f"{failed.engine} panicked: {msg}",
            )
        if rc in _FAILURES or tc in _FAILURES:
            side = "tgt" if tc in _FAILURES else "ref"
            failed = tgt if side == "tgt" else ref
            msg = failed.error.message if failed.error else ""
            return Verdict(
                "engine_failure", ORACLE,
                signature=Signature(ORACLE, "engine_failure", sig_features, classes, tgt.engine, side),
                reason=msg, detail=f"{failed.engine} failed ({error_class(failed)}): {msg}",
            )
        comparison = compare_results(case.query, case.params, ref, tgt, self.config, operand)
        if comparison.equal:
            return Verdict.match(ORACLE, comparison.notes)
        rule_features = features | _data_features(case)
        judged = comparison
        if comparison.truncated and self.rules.rules:
            # A rule must see every difference, not the first max_differences of them:
            # compare again without the cap (only for divergent answers, so rarely).
            judged = compare_results(case.query, case.params, ref, tgt,
                                     replace(self.config, max_differences=_UNCAPPED), operand)
        rules = self.rules.explain(judged, rule_features, tgt.engine, ref.engine, self.versions.get(tgt.engine),
                                   case=case)
        category = comparison.primary_category or "unknown"
        if category == "annotations" and all(d.category == "annotations" for d in comparison.differences):
            # Only annotations differ: one bug per kind of annotation gained or lost.
            signature = Signature(
                ORACLE, category, (), classes, tgt.engine, annotation_qualifier(comparison.differences)
            )
        elif category in _ERROR_CATEGORIES:
            # An error on one side is one bug per error message (its kind), whatever else the
            # query holds: keying it by the query's features would split it into hundreds.
            signature = Signature(ORACLE, category, (), classes, tgt.engine, error_qualifier(ref, tgt))
        else:
            signature = Signature(
                ORACLE, category, sig_features, classes, tgt.engine,
                "tie_sensitive" if comparison.tie_sensitive else "",
                data_aspect(case, ref, tgt, comparison.differences),
            )
        return Verdict(
            "expected" if rules else "divergence",
            ORACLE,
            differences=comparison.differences,
            signature=signature,
            rules=rules,
            detail=(comparison.diff_text() if not rules else comparison.summary()) if detail else "",
            notes=comparison.notes,
            data={"comparison": comparison},
        )


_UNCAPPED = 10_000_000


def _data_features(case: Case) -> frozenset[str]:
    """Features of the case's data and parameters that rules may match on; not part of
    signatures. ``data:histograms``: a sample is a native histogram;
    ``data:histogram_nan_sum``: a native histogram's sum is NaN (NaN observations);
    ``params:unaligned_range``: a range query whose end is not start + k * step."""
    hists = [s.v for series in case.dataset.series for s in series.samples if isinstance(s.v, Histogram)]
    out = set()
    if hists:
        out.add("data:histograms")
        if any(h.sum != h.sum for h in hists):
            out.add("data:histogram_nan_sum")
    p = case.params
    if p.is_range and p.step_ms > 0 and (p.end_ms - p.start_ms) % p.step_ms:
        out.add("params:unaligned_range")
    return frozenset(out)
