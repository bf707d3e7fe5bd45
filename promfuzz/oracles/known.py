"""The known-differences registry: documented or measured ways an engine legitimately
differs from the reference, so that those hits become ``expected`` verdicts (counted and
reported on their own, never dropped) instead of drowning real divergences.

Rules live in TOML files (``promfuzz/oracles/known/<engine>.toml``, read with
:mod:`tomllib`), one ``[[rule]]`` table each::

    [[rule]]
    id = "mqe-binop-no-series-annotations"   # unique, stable
    reason = "MQE omits annotations on binary operations that produce no series"
    link = "https://..."                      # where it is documented or measured
    effect = "expected"                       # the only effect so far

    [rule.match]                              # every condition given must hold
    engines = ["mqe"]                         # target engine name globs (fnmatch)
    references = ["prometheus*"]              # reference engine name globs
    features_any = ["op:+", "op:-"]           # query has at least one of these features
    features_all = ["fn:rate"]                # query has all of these
                                              # (also case features: "data:histograms", "data:histogram_nan_sum",
                                              # "params:unaligned_range"; see differential._data_features)
    categories = ["annotations"]              # every difference is of one of these categories
    details = ["warning_missing"]             # every difference's detail is one of these
    error_classes = ["execution"]             # the reference or target failed with one of these
    message_regex = "many-to-many"            # every difference's message matches (re.search)
    ref_regex = "^NaN"                        # every difference's reference side matches
    ref_annotation_regex = "NaN observations" # one of the reference's warnings/infos matches
    max_rel_diff = 1e-11                      # every difference is a float difference this small
    label_diff_only = ["__name__"]            # missing and extra series pair up when these labels are dropped
    result_empty = true                       # both answers hold no series
    target_empty = true                       # the target's answer holds no series (the reference may have failed)
    version_min = "v3.0.0"                    # target engine version, inclusive
    version_max = "v3.2.0"                    # exclusive

Shape conditions, decided on the case (query tree and dataset), name the situation that
makes the difference legitimate rather than features the query merely has:
``skipped_operand_error``, ``skipped_operand_annotations``, ``duplicate_group_unmatched``,
``histogram_operand``, ``parse_error_context``. A rule with one of them never applies when
the caller gives no case (``RuleSet.explain(..., case=...)``).

Every rule names its ``evidence`` (cases replayed on the real engine that the rule must
explain) and its ``near_miss`` cases (target answers the rule must NOT explain); a rule
without them is refused at load. ``promfuzz/oracles/known/README.md`` documents every key.

A comparison is explained when every one of its differences is explained by some rule
whose case-level conditions (engines, features, error classes, reference annotations,
versions, emptiness, shapes) hold.
A rule with a version range never matches an engine whose version is unknown.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from promfuzz.errors import ConfigError
from promfuzz.model import Case, Labels, Result
from promfuzz.oracles.compare import CATEGORIES, ERROR_CLASSES, Comparison, Difference

_MATCH_KEYS: dict[str, type] = {
    "engines": list, "references": list, "features_any": list, "features_all": list, "categories": list,
    "details": list, "error_classes": list, "message_regex": str, "ref_regex": str, "ref_annotation_regex": str,
    "max_rel_diff": float,
    "label_diff_only": list, "result_empty": bool, "target_empty": bool, "version_min": str, "version_max": str,
    # shape conditions, decided on the case (see the README next to the rule files)
    "skipped_operand_error": bool, "skipped_operand_annotations": bool, "duplicate_group_unmatched": bool,
    "histogram_operand": list, "parse_error_context": str, "unsupported_function_called": bool,
}
_CASE_KEYS = ("skipped_operand_error", "skipped_operand_annotations", "duplicate_group_unmatched",
              "histogram_operand", "parse_error_context", "unsupported_function_called")
_RULE_KEYS = {"id", "reason", "link", "effect", "match", "evidence", "near_miss"}
_EVIDENCE_KEYS = {"engine", "case", "note"}
_CORPUS_REF_RE = re.compile(r"^corpus:[0-9a-f]{16}$")


@dataclass(frozen=True)
class Evidence:
    """One case a rule is judged on: ``case`` is ``corpus:<case id>`` (a stored corpus case)
    or a promqltest file relative to the rules file's folder; ``engine`` is the real target
    engine it is replayed on. For a near miss the file's expected block is the target's
    answer to judge (the reference engine answers the file's query itself)."""

    engine: str
    case: str
    note: str = ""
EFFECTS = ("expected",)


@dataclass(frozen=True)
class KnownDifference:
    id: str
    reason: str
    link: str
    source: str
    effect: str = "expected"
    engines: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    features_any: tuple[str, ...] = ()
    features_all: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    error_classes: tuple[str, ...] = ()
    message_regex: re.Pattern[str] | None = None
    ref_regex: re.Pattern[str] | None = None
    ref_annotation_regex: re.Pattern[str] | None = None
    max_rel_diff: float | None = None
    label_diff_only: tuple[str, ...] = ()
    result_empty: bool | None = None
    target_empty: bool | None = None
    version_min: str | None = None
    version_max: str | None = None
    skipped_operand_error: bool | None = None
    skipped_operand_annotations: bool | None = None
    duplicate_group_unmatched: bool | None = None
    histogram_operand: tuple[str, ...] = ()
    parse_error_context: re.Pattern[str] | None = None
    unsupported_function_called: bool | None = None
    evidence: tuple[Evidence, ...] = ()
    near_miss: tuple[Evidence, ...] = ()

    @property
    def needs_case(self) -> bool:
        return any(getattr(self, k) not in (None, ()) for k in _CASE_KEYS)

    # case-level -------------------------------------------------------------
    def applies_to_case(
        self,
        comparison: Comparison,
        features: frozenset[str],
        target: str,
        reference: str,
        target_version: str | None,
        facts: _Facts | None = None,
    ) -> bool:
        if self.engines and not _name_matches(target, self.engines):
            return False
        if self.references and not _name_matches(reference, self.references):
            return False
        if self.features_any and not features.intersection(self.features_any):
            return False
        if self.features_all and not features.issuperset(self.features_all):
            return False
        if self.error_classes and not (
            {comparison.ref_error_class, comparison.tgt_error_class} & set(self.error_classes)
        ):
            return False
        if self.ref_annotation_regex is not None:
            ref = comparison.ref
            notes = (*ref.warnings, *ref.infos) if ref is not None else ()
            if not any(self.ref_annotation_regex.search(n) for n in notes):
                return False
        if self.result_empty is not None:
            empty = _empty(comparison.ref) and _empty(comparison.tgt)
            if empty != self.result_empty:
                return False
        if self.target_empty is not None and _empty(comparison.tgt) != self.target_empty:
            return False
        if self.version_min is not None or self.version_max is not None:
            if target_version is None:
                return False
            v = version_key(target_version)
            if self.version_min is not None and v < version_key(self.version_min):
                return False
            if self.version_max is not None and v >= version_key(self.version_max):
                return False
        if self.needs_case:
            if facts is None:
                return False
            if not self._shape_holds(comparison, facts):
                return False
        return True

    def _shape_holds(self, comparison: Comparison, f: _Facts) -> bool:
        ref_msg = _error_message(comparison.ref)
        if self.skipped_operand_error is not None:
            if error_from_skipped_operand(f, ref_msg) != self.skipped_operand_error:
                return False
        if self.skipped_operand_annotations is not None:
            skipped = bool(skipped_operands(f, "data")) and not skipped_annotations_emitted(comparison)
            if skipped != self.skipped_operand_annotations:
                return False
        if self.duplicate_group_unmatched is not None:
            if unmatched_duplicate_group(f, ref_msg) != self.duplicate_group_unmatched:
                return False
        if self.histogram_operand and not histogram_operands(f, self.histogram_operand):
            return False
        if self.parse_error_context is not None:
            ctx = parse_error_context(f.case.query, _error_message(comparison.tgt))
            if ctx is None or not self.parse_error_context.search(ctx):
                return False
        if self.unsupported_function_called is not None:
            if unsupported_function_called(f, _error_message(comparison.tgt)) != self.unsupported_function_called:
                return False
        return True

    def explains_in_case(self, d: Difference, f: _Facts | None) -> bool:
        """Difference-level shape conditions: with ``histogram_operand``, a difference with
        labels must be on a series of a histogram operand (labels without __name__)."""
        if not self.explains(d):
            return False
        if self.skipped_operand_annotations and d.category == "annotations" and d.detail.endswith("_missing"):
            if f is None or not annotation_from_skipped_operand(f, d.ref):
                return False
        if self.histogram_operand and d.labels is not None:
            if f is None:
                return False
            want = {k: v for k, v in d.labels if k != "__name__"}
            if want not in histogram_operands(f, self.histogram_operand):
                return False
        return True

    # difference-level ---------------------------------------------------------
    def explains(self, d: Difference) -> bool:
        if self.categories and d.category not in self.categories:
            return False
        if self.details and d.detail not in self.details:
            return False
        if self.message_regex is not None and not self.message_regex.search(d.message):
            return False
        if self.ref_regex is not None and not self.ref_regex.search(d.ref):
            return False
        if self.max_rel_diff is not None and (d.rel_diff is None or d.rel_diff > self.max_rel_diff):
            return False
        if self.label_diff_only and d.category not in ("missing_series", "extra_series"):
            return False
        return True

    def explains_all(self, diffs: Sequence[Difference]) -> bool:
        """Set-level conditions (label_diff_only pairs missing with extra series)."""
        if not self.label_diff_only:
            return True
        drop = set(self.label_diff_only)

        def strip(lb: Labels | None) -> Labels:
            return tuple((k, v) for k, v in (lb or ()) if k not in drop)

        missing = sorted(strip(d.labels) for d in diffs if d.category == "missing_series")
        extra = sorted(strip(d.labels) for d in diffs if d.category == "extra_series")
        return missing == extra


def _error_message(r: Result | None) -> str:
    return r.error.message if r is not None and r.error is not None else ""


_PARSE_POS_RE = re.compile(r"(\d+):(\d+): parse error")


_UNSUPPORTED_FUNCTION_RE = re.compile(r'unsupported function "([A-Za-z_][A-Za-z0-9_]*)"')


def unsupported_function_called(f: _Facts, message: str) -> bool:
    """Does the target's error say ``unsupported function "F"`` (VictoriaMetrics's words)
    for an F that is a PromQL function the query calls? Any other error, or a function the
    query does not call, does not hold."""
    m = _UNSUPPORTED_FUNCTION_RE.search(message)
    if m is None or f.tree is None:
        return False
    from promfuzz.promql import ast as A
    from promfuzz.promql.functions import FUNCTIONS

    name = m.group(1)
    return name in FUNCTIONS and any(isinstance(n, A.Call) and n.func == name for n in _subtree(f.tree))


def parse_error_context(query: str, message: str) -> str | None:
    """The query text from its start up to and including the character a parse error
    message points at (``L:C: parse error``, 1-based line and column as Prometheus counts
    them); None when the message has no position or it is outside the query."""
    m = _PARSE_POS_RE.search(message)
    if m is None:
        return None
    line, col = int(m.group(1)), int(m.group(2))
    lines = query.split("\n")
    if not 1 <= line <= len(lines) or not 1 <= col <= len(lines[line - 1].encode()) + 1:
        return None
    head = "\n".join(lines[: line - 1] + [lines[line - 1].encode()[:col].decode(errors="ignore")])
    return head


def _name_matches(name: str, globs: Sequence[str]) -> bool:
    """An engine name matches a rule's glob by itself or by its family: a rule about `mqe`
    holds for `mqe[-narrow_binary_selectors]` and `mqe@<revision>` too (a rule that only
    holds under some options names the spec, e.g. `mqe[passes=all]`)."""
    from promfuzz.engines.spec import family_of

    fam = family_of(name)
    return any(fnmatch.fnmatchcase(name, g) or fnmatch.fnmatchcase(fam, g) for g in globs)


def _empty(r: Result | None) -> bool:
    return r is not None and r.ok and not r.series and r.value_type in ("vector", "matrix")


_VERSION_RE = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-(?:0\.)?(\d{14})-[0-9a-f]+|[-+].*)?$")


def version_key(v: str) -> tuple[int, int, int, int]:
    """Order Go module versions, including pseudo-versions (by their timestamp)."""
    m = _VERSION_RE.match(v.strip())
    if not m:
        raise ConfigError(f"not a version: {v!r}")
    a, b, c, ts = m.groups()
    return (int(a), int(b or 0), int(c or 0), int(ts) if ts else 0)


# --------------------------------------------------------------------------- loading


def _fail(source: str, rule: str, msg: str) -> ConfigError:
    return ConfigError(f"{source}: rule {rule}: {msg}")


def _parse_evidence(raw: Any, key: str, source: str, label: str, engines: tuple[str, ...],
                    base: Path | None) -> tuple[Evidence, ...]:
    what = "evidence (cases the rule must explain)" if key == "evidence" else "near_miss (cases it must not)"
    if raw is None:
        raise _fail(source, label, f"missing {key!r}: every rule names its {what}, as "
                    f'[{{engine = "...", case = "corpus:<case id>" or "evidence/<file>.test"}}, ...]')
    if not isinstance(raw, list) or not raw:
        raise _fail(source, label, f"{key} must be a non-empty list of tables {{engine = ..., case = ...}}")
    out = []
    for i, item in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(item, Mapping):
            raise _fail(source, label, f"{where} must be a table {{engine = ..., case = ...}}")
        unknown = set(item) - _EVIDENCE_KEYS
        if unknown:
            raise _fail(source, label, f"{where}: unknown keys {sorted(unknown)} (expected {sorted(_EVIDENCE_KEYS)})")
        engine, case, note = item.get("engine"), item.get("case"), item.get("note", "")
        if not isinstance(engine, str) or not engine or not isinstance(note, str):
            raise _fail(source, label, f"{where}: 'engine' must be a non-empty string (and 'note' a string)")
        if engines and not any(fnmatch.fnmatchcase(engine, g) for g in engines):
            raise _fail(source, label, f"{where}: engine {engine!r} is not one the rule applies to {list(engines)}")
        if not isinstance(case, str) or not (_CORPUS_REF_RE.match(case) or case.endswith(".test")):
            raise _fail(source, label, f"{where}: 'case' must be \"corpus:<16 hex digits>\" or a .test file, "
                        f"not {case!r}")
        if base is not None and case.endswith(".test") and not (base / case).is_file():
            raise _fail(source, label, f"{where}: evidence file {base / case} does not exist")
        out.append(Evidence(engine, case, note))
    return tuple(out)


def _parse_rule(raw: Any, source: str, index: int, base: Path | None = None) -> KnownDifference:
    label = f"#{index + 1}"
    if not isinstance(raw, Mapping):
        raise _fail(source, label, "expected a table")
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        raise _fail(source, label, "missing 'id' (a non-empty string)")
    label = f"{rid!r}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise _fail(source, label, f"unknown keys {sorted(unknown)} (expected {sorted(_RULE_KEYS)})")
    for key in ("reason", "link"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _fail(source, label, f"missing {key!r} (a non-empty string)")
    effect = raw.get("effect", "expected")
    if effect not in EFFECTS:
        raise _fail(source, label, f"effect must be one of {list(EFFECTS)}, not {effect!r}")
    match = raw.get("match", {})
    if not isinstance(match, Mapping) or not match:
        raise _fail(source, label, "missing [rule.match] table with at least one condition")
    kw: dict[str, Any] = {}
    for key, value in match.items():
        want = _MATCH_KEYS.get(key)
        if want is None:
            raise _fail(source, label, f"unknown match condition {key!r} (expected one of {sorted(_MATCH_KEYS)})")
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want):
            raise _fail(source, label, f"match.{key} must be a {want.__name__}, not {type(value).__name__}")
        if isinstance(value, list):
            if not all(isinstance(x, str) for x in value) or not value:
                raise _fail(source, label, f"match.{key} must be a non-empty list of strings")
            value = tuple(value)
        kw[key] = value
    for cat in kw.get("categories", ()):
        if cat not in CATEGORIES:
            raise _fail(source, label, f"unknown category {cat!r} (expected one of {list(CATEGORIES)})")
    for cls in kw.get("error_classes", ()):
        if cls not in ERROR_CLASSES:
            raise _fail(source, label, f"unknown error class {cls!r} (expected one of {list(ERROR_CLASSES)})")
    for key in ("message_regex", "ref_regex", "ref_annotation_regex", "parse_error_context"):
        if key in kw:
            try:
                kw[key] = re.compile(kw[key])
            except re.error as e:
                raise _fail(source, label, f"match.{key} is not a valid regex: {e}") from e
    for key in ("version_min", "version_max"):
        if key in kw:
            try:
                version_key(kw[key])
            except ConfigError as e:
                raise _fail(source, label, f"match.{key}: {e}") from e
    engines = kw.get("engines", ())
    kw["evidence"] = _parse_evidence(raw.get("evidence"), "evidence", source, label, engines, base)
    kw["near_miss"] = _parse_evidence(raw.get("near_miss"), "near_miss", source, label, engines, base)
    return KnownDifference(id=rid, reason=raw["reason"].strip(), link=raw["link"].strip(), source=source,
                           effect=effect, **kw)


def parse_rules(text: str, source: str = "<string>", base: Path | None = None) -> tuple[KnownDifference, ...]:
    """Rules from TOML text; :class:`ConfigError` names the file and the rule at fault.
    ``base`` is the folder evidence files are relative to (checked to exist when given)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: invalid TOML: {e}") from e
    extra = set(doc) - {"rule"}
    if extra:
        raise ConfigError(f"{source}: unknown top-level keys {sorted(extra)} (expected [[rule]] tables)")
    raw = doc.get("rule", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: 'rule' must be an array of tables ([[rule]])")
    return tuple(_parse_rule(r, source, i, base) for i, r in enumerate(raw))


def load_rules_file(path: str | Path) -> tuple[KnownDifference, ...]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read rules file: {e}") from e
    return parse_rules(text, str(p), p.parent)


@dataclass(frozen=True)
class RuleSet:
    """An ordered collection of rules with unique ids."""

    rules: tuple[KnownDifference, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for r in self.rules:
            if r.id in seen:
                raise ConfigError(f"{r.source}: rule {r.id!r}: duplicate id (also in {seen[r.id]})")
            seen[r.id] = r.source

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Any:
        return iter(self.rules)

    def get(self, rule_id: str) -> KnownDifference | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def explain(
        self,
        comparison: Comparison,
        features: Iterable[str],
        target: str,
        reference: str = "",
        target_version: str | None = None,
        *,
        case: Case | None = None,
    ) -> tuple[str, ...]:
        """Ids of the rules that together explain every difference (empty: not explained).
        ``case`` (the data, query and parameters) is what shape conditions are decided on;
        without it, rules that have one do not apply."""
        if comparison.equal or comparison.truncated:
            return ()
        fs = frozenset(features)
        facts = _Facts(case) if case is not None and any(r.needs_case for r in self.rules) else None
        live = [r for r in self.rules
                if r.applies_to_case(comparison, fs, target, reference, target_version, facts)]
        if not live:
            return ()
        used: dict[str, list[Difference]] = {}
        for d in comparison.differences:
            rule = next((r for r in live if r.explains_in_case(d, facts)), None)
            if rule is None:
                return ()
            used.setdefault(rule.id, []).append(d)
        for rid, diffs in used.items():
            rule = next(r for r in live if r.id == rid)
            if not rule.explains_all(diffs):
                return ()
        return tuple(used)


def builtin_rules_dir() -> Path:
    return Path(str(resources.files("promfuzz.oracles").joinpath("known")))


def load_rules(paths: Iterable[str | Path] | None = None) -> RuleSet:
    """Rules from the given files, or every shipped ``known/*.toml`` when None."""
    files = sorted(builtin_rules_dir().glob("*.toml")) if paths is None else [Path(p) for p in paths]
    out: list[KnownDifference] = []
    for f in files:
        out.extend(load_rules_file(f))
    return RuleSet(tuple(out))


# --------------------------------------------------------------------------- shapes
#
# Conditions decided on the case itself (query tree + dataset), not on the features the
# query has. Every helper answers conservatively: when it cannot decide (an unparsable
# query, a regex Python cannot read, a construct whose output labels it does not model),
# the condition does not hold, so the difference stays a divergence.

# Functions whose output series carry their vector/matrix argument's labels (__name__
# aside): element-wise maths and the *_over_time family. Given literal other arguments
# they cannot fail, and on an empty input they produce nothing (no series, no annotation).
_LABEL_PRESERVING = frozenset("""
abs acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max clamp_min cos cosh
count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp first_over_time
floor histogram_avg histogram_count histogram_stddev histogram_stdvar histogram_sum hour idelta increase
irate last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute month predict_linear
present_over_time quantile_over_time rad rate resets round sgn sin sinh sort sort_by_label
sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh timestamp
ts_of_first_over_time ts_of_last_over_time ts_of_max_over_time ts_of_min_over_time year
""".split())
# Aggregations without a parameter: output labels are the grouping labels.
_GROUPING_AGGS = frozenset(("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"))
# Aggregations that pick input series (labels unchanged).
_PICKING_AGGS = frozenset(("topk", "bottomk", "limitk", "limit_ratio"))
_SET_OPS = frozenset(("and", "or", "unless"))



class _Facts:
    """The parsed query and the dataset's label sets, computed once per case."""

    __slots__ = ("case", "tree", "spans", "series", "hist_series", "_cache")

    def __init__(self, case: Any) -> None:
        from promfuzz.model import Histogram
        from promfuzz.promql.parser import parse_spans

        self.case = case
        self.spans: dict[tuple[int, ...], tuple[int, int]] = {}
        try:
            self.tree: Any = parse_spans(case.query, spans=self.spans)[0]
        except Exception:  # noqa: BLE001 - an unparsable query decides nothing
            self.tree = None
        self.series = [dict(s.labels) for s in case.dataset.series]
        self.hist_series = [dict(s.labels) for s in case.dataset.series
                            if any(isinstance(x.v, Histogram) for x in s.samples)]
        self._cache: dict[tuple[str, int], Any] = {}


def _matcher_ok(op: str, value: str, have: str) -> bool | None:
    if op == "=":
        return have == value
    if op == "!=":
        return have != value
    try:
        hit = re.fullmatch(value, have, re.DOTALL) is not None
    except re.error:
        return None
    return hit if op == "=~" else not hit


def _selected(sel: Any, pool: Sequence[dict[str, str]]) -> list[dict[str, str]] | None:
    """The label sets of ``pool`` a vector selector matches; None when undecidable."""
    matchers = [(m.name, m.op, m.value) for m in sel.matchers]
    if sel.name is not None:
        matchers.append(("__name__", "=", sel.name))
    out = []
    for labels in pool:
        ok = True
        for name, op, value in matchers:
            hit = _matcher_ok(op, value, labels.get(name, ""))
            if hit is None:
                return None
            if not hit:
                ok = False
                break
        if ok:
            out.append(labels)
    return out


def _vtype(node: Any) -> str | None:
    from promfuzz.promql.ast import value_type

    try:
        return value_type(node)
    except (KeyError, TypeError):
        return None


def _strip(node: Any) -> Any:
    from promfuzz.promql.ast import ParenExpr

    while isinstance(node, ParenExpr):
        node = node.expr
    return node


def _series_arg(call: Any) -> tuple[Any, bool] | None:
    """The one vector/matrix argument of a call and whether every other one is a number literal."""
    from promfuzz.promql.ast import NumberLiteral, StringLiteral

    series = [a for a in call.args if _vtype(a) in ("vector", "matrix")]
    if len(series) != 1:
        return None
    rest = [a for a in call.args if a is not series[0]]
    literal = all(isinstance(_strip(a), (NumberLiteral, StringLiteral)) for a in rest)
    return series[0], literal


def _out_labels(node: Any, f: _Facts) -> list[dict[str, str]] | None:
    """A superset of the label sets (without __name__) a vector expression can output at any
    time, from the dataset; None when the construct is not modelled."""
    from promfuzz.promql import ast as A

    node = _strip(node)
    t = type(node)
    if t is A.VectorSelector:
        sel = _selected(node, f.series)
        return None if sel is None else [{k: v for k, v in lb.items() if k != "__name__"} for lb in sel]
    if t is A.MatrixSelector:
        return _out_labels(node.selector, f)
    if t is A.SubqueryExpr or t is A.UnaryExpr:
        return _out_labels(node.expr, f)
    if t is A.Call and node.func in _LABEL_PRESERVING:
        arg = _series_arg(node)
        return None if arg is None else _out_labels(arg[0], f)
    if t is A.AggregateExpr:
        inner = _out_labels(node.expr, f)
        if inner is None:
            return None
        if node.op in _PICKING_AGGS:
            return inner
        if node.op in _GROUPING_AGGS or node.op == "quantile":
            g = set(node.grouping or ())
            if node.without:
                return [{k: v for k, v in lb.items() if k not in g} for lb in inner]
            return [{k: v for k, v in lb.items() if k in g} for lb in inner]
        return None
    if t is A.BinaryExpr:
        lt, rt = _vtype(node.lhs), _vtype(node.rhs)
        if lt == "vector" and rt == "scalar":
            return _out_labels(node.lhs, f)
        if lt == "scalar" and rt == "vector":
            return _out_labels(node.rhs, f)
        if lt == rt == "vector" and node.op in ("and", "unless") and not _has_fill(node):
            return _out_labels(node.lhs, f)
    return None


def _has_fill(b: Any) -> bool:
    m = b.matching
    return m is not None and (m.fill_lhs is not None or m.fill_rhs is not None)


def _is_empty(node: Any, f: _Facts) -> bool:
    """True when the expression outputs no series on the case's data and cannot fail or
    annotate: selectors that match no series of the dataset, and only constructs that map
    an empty input to an empty output with literal parameters."""
    from promfuzz.promql import ast as A

    node = _strip(node)
    t = type(node)
    if t is A.VectorSelector:
        sel = _selected(node, f.series)
        return sel is not None and not sel
    if t is A.MatrixSelector:
        return _is_empty(node.selector, f)
    if t is A.SubqueryExpr or t is A.UnaryExpr:
        return _is_empty(node.expr, f)
    if t is A.Call and node.func in _LABEL_PRESERVING:
        arg = _series_arg(node)
        return arg is not None and arg[1] and _is_empty(arg[0], f)
    if t is A.AggregateExpr:
        return node.param is None and node.op in _GROUPING_AGGS and _is_empty(node.expr, f)
    if t is A.BinaryExpr and not _has_fill(node):
        lt, rt = _vtype(node.lhs), _vtype(node.rhs)
        if lt == "vector" and isinstance(_strip(node.rhs), A.NumberLiteral):
            return _is_empty(node.lhs, f)
        if rt == "vector" and isinstance(_strip(node.lhs), A.NumberLiteral):
            return _is_empty(node.rhs, f)
        if lt == rt == "vector":
            return _is_empty(node.lhs, f) and _is_empty(node.rhs, f)
    return False


def _no_series(node: Any, f: _Facts) -> bool:
    """True when the expression outputs no series on the case's data, decided from series
    labels alone (as MQE decides what to skip), whatever it may raise on the way: what
    :func:`_is_empty` says, and vector/vector operations that produce nothing from their
    sides' labels (an empty side, for ``or`` both, for ``unless`` the left; or no match
    group in common). Only for annotations: an operation MQE skips this way reads none of
    its sides' samples, so none of their annotations are raised."""
    from promfuzz.promql import ast as A

    if _is_empty(node, f):
        return True
    node = _strip(node)
    t = type(node)
    if t is A.SubqueryExpr or t is A.UnaryExpr:
        return _no_series(node.expr, f)
    if t is A.Call and node.func in _LABEL_PRESERVING:
        arg = _series_arg(node)
        return arg is not None and arg[1] and _no_series(arg[0], f)
    if t is A.AggregateExpr:
        return node.param is None and node.op in _GROUPING_AGGS and _no_series(node.expr, f)
    if t is A.BinaryExpr and not _has_fill(node):
        lt, rt = _vtype(node.lhs), _vtype(node.rhs)
        if lt == "vector" and isinstance(_strip(node.rhs), A.NumberLiteral):
            return _no_series(node.lhs, f)
        if rt == "vector" and isinstance(_strip(node.lhs), A.NumberLiteral):
            return _no_series(node.rhs, f)
        if lt == rt == "vector":
            if node.op == "or":
                return _no_series(node.lhs, f) and _no_series(node.rhs, f)
            if node.op == "unless":
                return _no_series(node.lhs, f)
            return _no_series(node.lhs, f) or _no_series(node.rhs, f) or _groups_disjoint(node, f)
    return False


def _root_chain(tree: Any) -> list[Any]:
    """The nodes whose answer is the query's answer when it is empty: from the root down
    through wrappers that map an empty input to an empty answer without failing or
    annotating (parentheses, unary minus, aggregations without parameter, label-preserving
    functions with literal arguments, subqueries, arithmetic or comparison with a number)."""
    from promfuzz.promql import ast as A

    out = []
    node = tree
    while node is not None:
        node = _strip(node)
        out.append(node)
        t = type(node)
        nxt = None
        if t is A.UnaryExpr or t is A.SubqueryExpr:
            nxt = node.expr
        elif t is A.MatrixSelector:
            nxt = None
        elif t is A.AggregateExpr and node.param is None and node.op in _GROUPING_AGGS:
            nxt = node.expr
        elif t is A.Call and node.func in _LABEL_PRESERVING:
            arg = _series_arg(node)
            nxt = arg[0] if arg is not None and arg[1] else None
        elif t is A.BinaryExpr and node.op not in _SET_OPS and not _has_fill(node):
            if _vtype(node.lhs) == "vector" and isinstance(_strip(node.rhs), A.NumberLiteral):
                nxt = node.lhs
            elif _vtype(node.rhs) == "vector" and isinstance(_strip(node.lhs), A.NumberLiteral):
                nxt = node.rhs
        node = nxt
    return out


def _vv_binop(node: Any) -> bool:
    from promfuzz.promql.ast import BinaryExpr

    return (isinstance(node, BinaryExpr) and node.op != "or" and not _has_fill(node)
            and _vtype(node.lhs) == "vector" and _vtype(node.rhs) == "vector")


def _evaluation_order(b: Any) -> tuple[Any, Any]:
    """MQE's order for a vector/vector operation: the side whose series it asks for first,
    then the other (binops/*.go: the left side for one-to-one, and, unless; the "one"
    side for group_left/group_right)."""
    card = b.matching.card if b.matching is not None else "one-to-one"
    if card == "many-to-one":
        return b.rhs, b.lhs
    return b.lhs, b.rhs


def _group_key(labels: dict[str, str], b: Any) -> Any:
    m = b.matching
    if m is not None and m.on:
        return tuple(labels.get(k, "") for k in m.labels)
    drop = set(m.labels) if m is not None else set()
    return frozenset((k, v) for k, v in labels.items() if k not in drop)


def _groups_disjoint(b: Any, f: _Facts) -> bool:
    """No match group of one side has a partner on the other, from the dataset's labels."""
    m = b.matching
    if b.op == "unless" or (m is not None and "__name__" in m.labels):
        return False
    left, right = _out_labels(b.lhs, f), _out_labels(b.rhs, f)
    if left is None or right is None:
        return False
    return not ({_group_key(lb, b) for lb in left} & {_group_key(lb, b) for lb in right})


def skipped_operands(f: _Facts, mode: str) -> list[Any]:
    """Operands of the query's empty binary operation that MQE never evaluates.

    mode "whole": the operation's first-evaluated side matches nothing in the dataset, so
    the other side is not evaluated at all (not even its series labels): returns it.
    mode "data": the operation provably produces no series from the series labels alone
    (one side empty, or no match group in common), so neither side's samples are read:
    returns both sides."""
    if f.tree is None:
        return []
    key = ("skipped:" + mode, 0)
    if key in f._cache:
        return f._cache[key]  # type: ignore[no-any-return]
    out: list[Any] = []
    for node in _root_chain(f.tree):
        if not _vv_binop(node):
            continue
        first, second = _evaluation_order(node)
        if mode == "whole":
            if _is_empty(first, f):
                out.append(second)
        elif (_no_series(node.lhs, f) or (node.op != "unless" and _no_series(node.rhs, f))
              or _groups_disjoint(node, f)):
            out.extend((node.lhs, node.rhs))
    f._cache[key] = out
    return out


_ANNOTATION_POS_RE = re.compile(r"\((\d+):(\d+)\)\s*$")
_QUOTED_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_NUMBER_RE = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|Inf|NaN)(?![\w.])")


def annotation_template(text: str) -> str:
    """What an annotation says with its particulars taken out (position, quoted metric
    names and label values, numbers): the kind of annotation one operator raises."""
    return _NUMBER_RE.sub("#", _QUOTED_RE.sub('"…"', _ANNOTATION_POS_RE.sub("", text))).strip()


def skipped_annotations_emitted(comparison: Comparison) -> bool:
    """Did the target raise a kind of annotation that it is said to have skipped?

    When MQE skips a binary operation's sides it reads none of their samples, so it
    raises none of the annotations those samples raise: a kind of annotation (see
    :func:`annotation_template`) that the target reports while missing another of the
    same kind means the sides were evaluated, and the missing one is a real loss (issue
    #12: dropping one annotation of several was absorbed)."""
    ref, tgt = comparison.ref, comparison.tgt
    if ref is None or tgt is None:
        return False
    for kind in ("warnings", "infos"):
        have = Counter(getattr(tgt, kind))
        missing = Counter(getattr(ref, kind)) - have
        if not missing:
            continue
        kinds = {annotation_template(a) for a in have}
        if any(annotation_template(a) in kinds for a in missing):
            return True
    return False


def _offset_of(query: str, line: int, col: int) -> int | None:
    """The character offset of Prometheus's ``line:col`` (col counts bytes from 1)."""
    lines = query.split("\n")
    if not 1 <= line <= len(lines):
        return None
    raw = lines[line - 1].encode()
    if not 1 <= col <= len(raw) + 1:
        return None
    before = sum(len(x) + 1 for x in lines[: line - 1])
    return before + len(raw[: col - 1].decode(errors="ignore"))


def annotation_from_skipped_operand(f: _Facts, text: str) -> bool:
    """Is ``text`` (the reference's annotation) raised inside a side of the binary
    operation MQE skips? Decided by its position, the start of the node that raised it
    (Prometheus's ``PositionRange``): it must fall within a skipped side's text. An
    annotation without a position cannot be placed, so it is not."""
    m = _ANNOTATION_POS_RE.search(text)
    if m is None or f.tree is None:
        return False
    at = _offset_of(f.case.query, int(m.group(1)), int(m.group(2)))
    if at is None:
        return False
    from promfuzz.promql.ast import positions

    ids = {id(n) for n in skipped_operands(f, "data")}
    for pos, node in positions(f.tree):
        if id(node) in ids:
            span = f.spans.get(pos)
            if span is not None and span[0] <= at < max(span[1], span[0] + 1):
                return True
    return False


def _subtree(node: Any) -> list[Any]:
    from promfuzz.promql.ast import walk

    return [n for n, _ in walk(node)]


def _error_source(message: str) -> Any:
    from promfuzz.promql import ast as A

    def agg(*ops: str) -> Any:
        return lambda n: isinstance(n, A.AggregateExpr) and n.op in ops

    def fn(*names: str) -> Any:
        return lambda n: isinstance(n, A.Call) and n.func in names

    def relabels(n: Any) -> bool:
        # what can leave two series with one label set: dropping __name__ (functions,
        # arithmetic, unary minus), or rewriting labels
        return isinstance(n, (A.Call, A.BinaryExpr, A.UnaryExpr)) or (
            isinstance(n, A.AggregateExpr) and n.op in ("count_values",))

    table = (
        (r"Parameter value is NaN|Scalar value .* (overflows|underflows) int64", agg("topk", "bottomk", "limitk")),
        (r"invalid smoothing factor|invalid trend factor", fn("double_exponential_smoothing", "holt_winters")),
        (r"in label_replace\(\)", fn("label_replace")),
        (r"in label_join\(\)", fn("label_join")),
        (r"^invalid label name", agg("count_values")),
        (r"vector cannot contain metrics with the same labelset", relabels),
    )
    for pattern, pred in table:
        if re.search(pattern, message):
            return pred
    return None


def error_from_skipped_operand(f: _Facts, message: str) -> bool:
    """The reference's error is one an operand MQE never evaluates can raise: the message
    names a construct family (a topk/bottomk/limitk parameter, a smoothing factor,
    label_replace/label_join arguments, count_values' label, a label set made ambiguous)
    and that construct occurs inside a skipped operand (mode "whole")."""
    pred = _error_source(message)
    if pred is None:
        return False
    return any(pred(n) for side in skipped_operands(f, "whole") for n in _subtree(side))


_DUP_RE = re.compile(r"found duplicate series for the match group \{.*\} on the (right|left) hand-side "
                     r"of the operation: .*many-to-many matching not allowed")


def unmatched_duplicate_group(f: _Facts, message: str) -> bool:
    """Prometheus's many-to-many error (a duplicate match group on the "one" side) for an
    operation whose match groups have no partner on the other side at all: the operation
    gives no series whatever the duplicates hold, which is what MQE answers (Mimir's
    documented difference). The operation must be where the query's empty answer comes
    from (its root chain), and the side named must be its "one" side."""
    m = _DUP_RE.search(message)
    if m is None or f.tree is None:
        return False
    for node in _root_chain(f.tree):
        if not _vv_binop(node) or node.op in _SET_OPS:
            continue
        card = node.matching.card if node.matching is not None else "one-to-one"
        one_side = "left" if card == "one-to-many" else "right"
        if m.group(1) == one_side and _groups_disjoint(node, f):
            return True
    return False


def histogram_operands(f: _Facts, kinds: Sequence[str]) -> list[dict[str, str]]:
    """The dataset's native-histogram series (label sets without __name__) selected by the
    operand of a node of one of ``kinds`` ("fn:<name>" calls, "op:<op>" binary operators)."""
    from promfuzz.promql import ast as A

    if f.tree is None or not f.hist_series:
        return []
    out: list[dict[str, str]] = []
    for node in _subtree(f.tree):
        if isinstance(node, A.Call) and f"fn:{node.func}" in kinds:
            operands = list(node.args)
        elif isinstance(node, A.BinaryExpr) and f"op:{node.op}" in kinds:
            operands = [node.lhs, node.rhs]
        else:
            continue
        for op in operands:
            for n in _subtree(op):
                if isinstance(n, A.VectorSelector):
                    sel = _selected(n, f.hist_series) or []
                    out.extend({k: v for k, v in lb.items() if k != "__name__"} for lb in sel)
    return out


# --------------------------------------------------------------------------- evidence files

_ERROR_TYPE_RE = re.compile(r"^#\s*promfuzz:error-type\s+(\S+)\s*$", re.MULTILINE)


def evidence_case(ev: Evidence, rules_dir: Path, corpus_root: Path | None = None) -> tuple[Case, Result | None]:
    """The case an evidence entry names and, for a file, the answer its eval block states
    (for a near miss: the target's answer to judge, as ``ev.engine``; errors whose message
    says "parse error" are ``bad_data``, others ``execution`` unless the file has a
    ``# promfuzz:error-type <type>`` line). A corpus case comes without an answer."""
    from promfuzz.corpus.promqltest import expected_to_result, read_test_file
    from promfuzz.model import ResultError

    if ev.case.startswith("corpus:"):
        from promfuzz.corpus.store import CorpusStore

        if corpus_root is None:
            raise ConfigError(f"evidence {ev.case}: no corpus folder given")
        entry = CorpusStore(corpus_root).get(ev.case.split(":", 1)[1])
        if entry is None:
            raise ConfigError(f"evidence {ev.case}: no such case in {corpus_root}")
        return entry.case, None
    path = rules_dir / ev.case
    tf = read_test_file(path)
    evals = list(tf.evals())
    if len(evals) != 1:
        raise ConfigError(f"{path}: an evidence file holds exactly one eval, not {len(evals)}")
    case = tf.cases()[0]
    answer = expected_to_result(evals[0][1], engine=ev.engine)
    if answer.error is not None:
        m = _ERROR_TYPE_RE.search(path.read_text(encoding="utf-8"))
        etype = m.group(1) if m else ("bad_data" if "parse error" in answer.error.message else "execution")
        answer = Result(engine=ev.engine, outcome="error", error=ResultError(etype, answer.error.message))
    return case, answer
