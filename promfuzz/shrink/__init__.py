"""promfuzz.shrink: make a failing case small while it keeps showing the same bug.

* :func:`shrink` -- the orchestrator (passes until a fixed point or the budget);
  :class:`ShrinkResult` says what it did.
* :func:`make_engine_check` -- the check function over a reference and a target engine.
* Passes, one family per module: :mod:`~promfuzz.shrink.query_passes`,
  :mod:`~promfuzz.shrink.dataset_passes`, :mod:`~promfuzz.shrink.eval_passes`; the size
  order they descend is :mod:`~promfuzz.shrink.size`.
* :func:`promfuzz.shrink.cli.shrink_file` -- shrink a ``.test`` file with named engines.
"""

from promfuzz.shrink.orchestrator import (
    Check,
    EngineCheck,
    Pass,
    ShrinkBudget,
    ShrinkResult,
    default_passes,
    make_engine_check,
    same_bug,
    shrink,
)
from promfuzz.shrink.size import CaseSize, size_of

__all__ = [
    "CaseSize",
    "Check",
    "EngineCheck",
    "Pass",
    "ShrinkBudget",
    "ShrinkResult",
    "default_passes",
    "make_engine_check",
    "same_bug",
    "shrink",
    "size_of",
]
