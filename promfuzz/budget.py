"""Budgets for long-running work: a wall-clock duration or a number of cases."""

from __future__ import annotations

import re
from dataclasses import dataclass

from promfuzz.errors import ConfigError

_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")
_CASES_RE = re.compile(r"^(\d+)\s*(?:c|cases?)?$")


@dataclass(frozen=True)
class Budget:
    """Stop after ``seconds`` of wall time or after ``cases`` cases, whichever is set."""

    seconds: float | None = None
    cases: int | None = None

    def to_json_obj(self) -> dict[str, float | int | None]:
        return {"seconds": self.seconds, "cases": self.cases}

    def __str__(self) -> str:
        return f"{self.cases} cases" if self.cases is not None else f"{self.seconds:g}s"


def parse_budget(text: str) -> Budget:
    """``90s``, ``2m``, ``1h30m`` (durations) or ``5000`` / ``5000cases`` (case counts)."""
    t = text.strip().lower().replace(" ", "")
    m = _CASES_RE.match(t)
    if m:
        n = int(m.group(1))
        if n <= 0:
            raise ConfigError(f"budget {text!r}: a case count must be positive")
        return Budget(cases=n)
    m = _DURATION_RE.match(t)
    if t and m and any(m.groups()):
        h, mi, s = m.groups()
        secs = int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
        if secs <= 0:
            raise ConfigError(f"budget {text!r}: a duration must be positive")
        return Budget(seconds=secs)
    raise ConfigError(f"budget {text!r}: expected a duration such as 90s, 2m, 1h30m or a case count such as 5000")
