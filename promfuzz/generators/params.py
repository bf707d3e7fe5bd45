"""Evaluation parameters (instant time or range start/end/step) chosen to hit edges.

Times land on sample boundaries, 1 ms either side of them, anywhere in the data, at the
very start, after the data (inside and beyond the 5m lookback); ranges include
``start == end``, steps that do not divide the range, 1 ms steps and steps longer than
the range -- always within the HTTP API's 11,000-point limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from promfuzz.generators.choices import Choices
from promfuzz.generators.schema import DatasetSchema
from promfuzz.model import Dataset, EvalParams

MAX_POINTS = 11_000
"""Prometheus's HTTP API rejects range queries with more points than this."""


@dataclass(frozen=True)
class ParamsConfig:
    instant_p: float = 0.55
    """Share of instant evaluations (the rest are ranges)."""
    max_points: int = MAX_POINTS
    edge_p: float = 0.3
    """Share of edge timestamps (boundaries, 1 ms off, after the data)."""


def _time(choices: Choices, schema: DatasetSchema, edge_p: float) -> int:
    start, end, iv = schema.start_ms, schema.end_ms, max(1, schema.interval_ms)
    span = max(1, end - start)
    if choices.boolean(edge_p):
        kind = choices.weighted(
            (("off_by_one", 3.0), ("start", 1.0), ("end", 1.5), ("after_end", 1.5), ("far_after", 0.5))
        )
    else:
        kind = choices.weighted((("boundary", 1.0), ("anywhere", 1.0)))
    if kind == "boundary":
        return start + iv * choices.integer(0, span // iv)
    if kind == "off_by_one":
        t = start + iv * choices.integer(0, span // iv) + choices.choice((-1, 1))
        return max(0, t)
    if kind == "start":
        return start
    if kind == "end":
        return end
    if kind == "after_end":
        return end + choices.integer(1, 5 * 60_000 + 1)  # around the 5m lookback
    if kind == "far_after":
        return end + choices.integer(5 * 60_000 + 2, 60 * 60_000)
    return start + choices.integer(0, span)


def _step(choices: Choices, schema: DatasetSchema) -> int:
    kind = choices.weighted(
        (("common", 5.0), ("interval", 2.0), ("odd", 2.0), ("tiny", 0.5), ("huge", 0.7), ("ms", 1.0))
    )
    if kind == "common":
        return choices.choice((15_000, 30_000, 60_000, 10_000, 5 * 60_000))
    if kind == "interval":
        return max(1, schema.interval_ms)
    if kind == "odd":
        return choices.choice((7_000, 13_000, 45_001, 59_999, 61_000, 100_000))
    if kind == "tiny":
        return choices.choice((1, 7, 100))
    if kind == "huge":
        return choices.choice((3_600_000, 86_400_000, 7 * 86_400_000))
    return choices.integer(1, 120_000)


def generate_params(
    choices: Choices, dataset: Dataset | DatasetSchema | None = None, config: ParamsConfig | None = None
) -> EvalParams:
    """Instant or range evaluation parameters for ``dataset`` (edge times included)."""
    config = config or ParamsConfig()
    if isinstance(dataset, Dataset):
        schema = DatasetSchema.from_dataset(dataset)
    else:
        schema = dataset or DatasetSchema.default()
    if choices.boolean(config.instant_p):
        return EvalParams.instant(_time(choices, schema, config.edge_p))
    step = _step(choices, schema)
    if choices.boolean(0.08):
        t = _time(choices, schema, config.edge_p)
        return EvalParams.range(t, t, step)  # start == end: one point
    a = _time(choices, schema, config.edge_p)
    b = _time(choices, schema, config.edge_p)
    start, end = min(a, b), max(a, b)
    limit = (config.max_points - 1) * step
    if end - start > limit:
        # Keep within the point limit; sometimes exactly at it.
        end = start + (limit if choices.boolean(0.2) else choices.integer(0, limit))
    return EvalParams.range(start, end, step)
