"""Small builders for results in oracle tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from promfuzz.model import Point, PointValue, Result, ResultSeries, make_labels


def vec(t: int, *series: tuple[Mapping[str, str], PointValue], engine: str = "e",
        warnings: Sequence[str] = (), infos: Sequence[str] = ()) -> Result:
    """An instant-vector result; series keep the given order."""
    return Result(
        engine=engine, outcome="ok", value_type="vector",
        series=tuple(ResultSeries(make_labels(lb), (Point(t, v),)) for lb, v in series),
        warnings=tuple(warnings), infos=tuple(infos),
    )


def mat(*series: tuple[Mapping[str, str], Sequence[tuple[int, PointValue]]], engine: str = "e") -> Result:
    return Result(
        engine=engine, outcome="ok", value_type="matrix",
        series=tuple(ResultSeries(make_labels(lb), tuple(Point(t, v) for t, v in pts)) for lb, pts in series),
    )


def scalar(t: int, v: float, engine: str = "e") -> Result:
    return Result(engine=engine, outcome="ok", value_type="scalar", scalar=Point(t, v))


def err(error_type: str, message: str, outcome: str = "error", engine: str = "e") -> Result:
    return Result.failure(engine, outcome, error_type, message)  # type: ignore[arg-type]
