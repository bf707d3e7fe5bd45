"""Verdicts (what an oracle concluded) and signatures (which bug a hit belongs to).

A :class:`Signature` must map thousands of hits of one bug to one key, and different bugs
to different keys. Its parts:

* the **oracle** and the **target** engine (the same symptom in two engines is two bugs);
* the **primary category** of the differences (the most significant one, in the order of
  :data:`promfuzz.oracles.compare.CATEGORIES`: an error beats a missing series beats a
  value...). Only the primary one: a wrong value often drags a missing series along in a
  bigger query, and that must not split the bug;
* the **error classes** of the two sides (``ok`` for an answer), reference first;
* the **features** of the query that can carry a bug: functions (``fn:``), aggregations
  (``agg:``), binary and unary operators (``op:``, ``unary:``), modifiers (``mod:`` such
  as offset, ``@``, subqueries, ``bool``) and vector-matching cardinality
  (``match:group_left``...). Left out are selectors, matchers, literals, label names,
  ``by``/``without`` and ``on``/``ignoring`` label lists, durations and parentheses: they
  vary from hit to hit of one bug. Finding the smallest disagreeing subexpression
  instead would need one engine round trip per node; the shrinker gets the same effect
  cheaper by making queries small.
* a **qualifier** for special situations (``tie_sensitive`` when a nested topk & co can
  explain the difference; ``ref``/``tgt`` for which side failed; ``panic: <message>`` for
  an engine panic, see :data:`PANIC_PREFIX`; the normalized reason of an ``unsupported``
  or the message of an error signature);
* the **data aspect** of a value-like difference (:mod:`promfuzz.oracles.aspects`): which
  kinds of samples the query's selectors read (float, histogram), whether one side
  answered nothing, NaN or Inf in the differing points, stale markers in the data read.
  Two bugs with the same query features but different data do not merge, and the words
  are coarse (a handful of values), so one bug does not split into hundreds. It enters
  the JSON form (and so the key) only when not empty, so the keys of signatures without
  one are the keys they always had.

Because the features are part of the key, a shrinker must not demand an *identical*
signature (it could never drop an irrelevant ``sum``): :meth:`Signature.preserved_by` says
whether a smaller candidate still shows the same bug -- everything equal (the data aspect
too: a histogram bug must not shrink into a float one) and its features a subset. The
corpus then files the case under the shrunk signature's :meth:`key`; replay reads the case
files and never recomputes a key, so folders stored under an older key stay valid.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

VerdictKind = Literal[
    "match", "divergence", "expected", "unsupported", "engine_failure", "performance", "not_applicable"
]
VERDICT_KINDS: tuple[str, ...] = (
    "match", "divergence", "expected", "unsupported", "engine_failure", "performance", "not_applicable",
)

SIGNATURE_FEATURE_PREFIXES = ("fn:", "agg:", "op:", "unary:", "mod:", "match:")
SIGNATURE_FEATURE_EXCLUDED = frozenset(
    {"mod:by", "mod:without", "match:on", "match:ignoring", "mod:subquery_default_step"}
)


def signature_features(features: Iterable[str]) -> tuple[str, ...]:
    """The features that go into a signature (see the module doc), sorted."""
    return tuple(sorted({
        f for f in features
        if f.startswith(SIGNATURE_FEATURE_PREFIXES) and f not in SIGNATURE_FEATURE_EXCLUDED
    }))


_UNSAFE = re.compile(r"[^a-z0-9_]+")

PANIC_PREFIX = "panic: "
"""Qualifier prefix of an engine panic's signature: ``panic: <normalized message>``."""


@dataclass(frozen=True)
class Signature:
    oracle: str
    category: str
    features: tuple[str, ...] = ()
    error_classes: tuple[str, ...] = ()  # (reference, target) for two-engine oracles; "ok" for an answer
    target: str = ""
    qualifier: str = ""
    aspect: tuple[str, ...] = ()  # data aspect words (promfuzz.oracles.aspects), sorted

    def to_json_obj(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "oracle": self.oracle,
            "category": self.category,
            "features": list(self.features),
            "error_classes": list(self.error_classes),
            "target": self.target,
            "qualifier": self.qualifier,
        }
        if self.aspect:  # only when present: signatures without one keep their old keys
            d["aspect"] = list(self.aspect)
        return d

    @staticmethod
    def from_json_obj(d: dict[str, Any]) -> Signature:
        return Signature(
            oracle=str(d["oracle"]),
            category=str(d["category"]),
            features=tuple(d.get("features", ())),
            error_classes=tuple(d.get("error_classes", ())),
            target=str(d.get("target", "")),
            qualifier=str(d.get("qualifier", "")),
            aspect=tuple(d.get("aspect", ())),
        )

    def key(self) -> str:
        """Stable, short, folder-safe: ``<oracle>-<category>-<10 hex>``."""
        text = json.dumps(self.to_json_obj(), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        return f"{_UNSAFE.sub('_', self.oracle.lower())}-{_UNSAFE.sub('_', self.category.lower())}-{digest}"

    @property
    def title(self) -> str:
        what = self.category.replace("_", " ")
        parts = [f"{self.oracle}: {what}"]
        if self.target:
            parts.append(f"in {self.target}")
        if self.features:
            parts.append("with " + ", ".join(f.split(":", 1)[-1] for f in self.features))
        if self.error_classes and any(c != "ok" for c in self.error_classes):
            parts.append("(" + " vs ".join(self.error_classes) + ")")
        if self.aspect:
            parts.append("on " + ", ".join(self.aspect))
        if self.qualifier:
            parts.append(f"[{self.qualifier}]")
        return " ".join(parts)

    @property
    def panic(self) -> str | None:
        """The normalized panic message when this is an engine panic's signature."""
        if self.category == "engine_failure" and self.qualifier.startswith(PANIC_PREFIX):
            return self.qualifier[len(PANIC_PREFIX):]
        return None

    def preserved_by(self, candidate: Signature) -> bool:
        """Does ``candidate`` (from a smaller case) show the same bug as ``self``?"""
        return (
            candidate.oracle == self.oracle
            and candidate.category == self.category
            and candidate.error_classes == self.error_classes
            and candidate.target == self.target
            and candidate.qualifier == self.qualifier
            and candidate.aspect == self.aspect
            and set(candidate.features) <= set(self.features)
        )


@dataclass(frozen=True)
class Verdict:
    """What an oracle concluded about one case.

    ``kind``: ``match`` (nothing to report), ``divergence`` (a bug candidate),
    ``expected`` (a difference explained by known-difference ``rules``; counted, never
    dropped), ``unsupported`` (the target declined the query), ``engine_failure`` (crash,
    panic, hang or timeout), ``performance`` (far slower or hungrier than the reference),
    ``not_applicable`` (the oracle does not apply to the case; ``reason`` says why).
    Every kind but ``match`` and ``not_applicable`` carries a signature.
    """

    kind: VerdictKind
    oracle: str
    differences: tuple[Any, ...] = ()  # promfuzz.oracles.compare.Difference
    signature: Signature | None = None
    rules: tuple[str, ...] = ()  # ids of the known-difference rules that explained it
    reason: str = ""
    detail: str = ""  # human-readable diff for reports
    notes: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def rule(self) -> str | None:
        """The (first) matched known-difference rule, if any."""
        return self.rules[0] if self.rules else None

    @property
    def is_problem(self) -> bool:
        """Worth a human's look: a divergence, failure or performance hit."""
        return self.kind in ("divergence", "engine_failure", "performance")

    @staticmethod
    def match(oracle: str, notes: tuple[str, ...] = ()) -> Verdict:
        return Verdict("match", oracle, notes=notes)

    @staticmethod
    def not_applicable(oracle: str, reason: str) -> Verdict:
        return Verdict("not_applicable", oracle, reason=reason)

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "oracle": self.oracle,
            "signature": self.signature.to_json_obj() if self.signature else None,
            "signature_key": self.signature.key() if self.signature else None,
            "rules": list(self.rules),
            "reason": self.reason,
            "differences": [
                {"category": getattr(d, "category", ""), "message": getattr(d, "message", str(d))}
                for d in self.differences
            ],
            "notes": list(self.notes),
        }
