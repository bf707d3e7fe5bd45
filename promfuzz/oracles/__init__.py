"""promfuzz.oracles: deciding whether answers truly differ.

* :func:`compare_results` / :class:`ComparisonConfig` -- the core comparator.
* :class:`Verdict` / :class:`Signature` -- what an oracle concluded, and which bug it is.
* :func:`load_rules` / :class:`RuleSet` -- the known-differences registry (``known/*.toml``).
* :class:`DifferentialOracle` -- target vs reference engine.
* :class:`PerformanceOracle` -- target far slower or hungrier than the reference.
* Metamorphic oracles (one engine, two related queries): see :data:`METAMORPHIC_ORACLES`.
"""

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
from promfuzz.oracles.known import KnownDifference, RuleSet, load_rules, load_rules_file, parse_rules
from promfuzz.oracles.performance import PerformanceConfig, PerformanceOracle
from promfuzz.oracles.verdict import VERDICT_KINDS, Signature, Verdict, VerdictKind, signature_features

__all__ = [
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
