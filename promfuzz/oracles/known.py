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
``histogram_operand``, ``parse_error_context``, ``unsupported_function_called`` (decided in
:mod:`promfuzz.oracles._shapes`). A rule with one of them never applies when the caller
gives no case (``RuleSet.explain(..., case=...)``).

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from promfuzz.errors import ConfigError
from promfuzz.model import Case, Labels, Result
from promfuzz.oracles._shapes import (  # noqa: F401  (annotation_template etc. re-exported)
    _Facts,
    annotation_from_skipped_operand,
    annotation_template,
    error_from_skipped_operand,
    histogram_operands,
    parse_error_context,
    skipped_annotations_emitted,
    skipped_operands,
    unmatched_duplicate_group,
    unsupported_function_called,
)
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
