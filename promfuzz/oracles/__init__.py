"""promfuzz.oracles: deciding whether answers truly differ.

* :func:`compare_results` / :class:`ComparisonConfig` -- the core comparator.
* :class:`Verdict` / :class:`Signature` -- what an oracle concluded, and which bug it is.
* :func:`load_rules` / :class:`RuleSet` -- the known-differences registry (``known/*.toml``).
* :class:`DifferentialOracle` -- target vs reference engine.
* :class:`PerformanceOracle` -- target far slower or hungrier than the reference.
* Metamorphic oracles (one engine, two related queries): see :data:`METAMORPHIC_ORACLES`.
"""

from collections.abc import Mapping
from types import MappingProxyType

from promfuzz.oracles.at_pinning import AtPinningOracle
from promfuzz.oracles.compare import (
    CATEGORIES,
    ERROR_CLASSES,
    Comparison,
    ComparisonConfig,
    Difference,
    compare_results,
    error_class,
    floats_equal,
)
from promfuzz.oracles.differential import DifferentialOracle
from promfuzz.oracles.instant_vs_range import InstantVsRangeOracle
from promfuzz.oracles.known import KnownDifference, RuleSet, load_rules, load_rules_file, parse_rules
from promfuzz.oracles.offset_shift import OffsetShiftOracle
from promfuzz.oracles.partition import PartitionOracle
from promfuzz.oracles.performance import PerformanceConfig, PerformanceOracle
from promfuzz.oracles.range_vs_instants import RangeVsInstantsOracle
from promfuzz.oracles.verdict import VERDICT_KINDS, Signature, Verdict, VerdictKind, signature_features

METAMORPHIC_ORACLES: Mapping[str, type] = MappingProxyType({
    "instant_vs_range": InstantVsRangeOracle,
    "range_vs_instants": RangeVsInstantsOracle,
    "at_pinning": AtPinningOracle,
    "offset_shift": OffsetShiftOracle,
    "partition": PartitionOracle,
})
"""Metamorphic oracle classes by name; each has ``check(engine, case) -> Verdict``."""

__all__ = [
    "METAMORPHIC_ORACLES",
    "AtPinningOracle",
    "InstantVsRangeOracle",
    "OffsetShiftOracle",
    "PartitionOracle",
    "RangeVsInstantsOracle",
    "CATEGORIES",
    "ERROR_CLASSES",
    "VERDICT_KINDS",
    "Comparison",
    "ComparisonConfig",
    "Difference",
    "DifferentialOracle",
    "KnownDifference",
    "PerformanceConfig",
    "PerformanceOracle",
    "RuleSet",
    "Signature",
    "Verdict",
    "VerdictKind",
    "compare_results",
    "error_class",
    "floats_equal",
    "load_rules",
    "load_rules_file",
    "parse_rules",
    "signature_features",
]
