"""Injected faults for shrinker tests: a fake check and a faulty engine wrapper."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from promfuzz.engines.base import Engine, EngineBase, LoadInfo
from promfuzz.errors import PromQLSyntaxError
from promfuzz.model import Case, Dataset, EvalParams, Point, Result, ResultSeries
from promfuzz.oracles.verdict import Signature, Verdict, signature_features
from promfuzz.promql import AggregateExpr, Call, VectorSelector, features, walk
from promfuzz.promql.parser import parse


def _selector_name(vs: VectorSelector) -> str | None:
    if vs.name is not None:
        return vs.name
    for m in vs.matchers:
        if m.name == "__name__" and m.op == "=":
            return m.value
    return None


@dataclass
class FaultCheck:
    """A fake check: the "target" diverges (a ``value`` difference) whenever the query applies
    ``func`` (a function or aggregation name; None: any) to a selector of ``metric`` (None:
    any metric) and the dataset holds a series of that metric with label ``label`` (None:
    any label) = ``value``. Otherwise it matches. The signature is built like the
    differential oracle's: from the query's features.

    ``second_bug``: queries with a selector of ``metric`` outside ``func`` show another bug
    (category ``missing_series``), one the shrinker must not slide into.
    """

    func: str | None = "rate"
    metric: str | None = "http_requests"
    label: str | None = "job"
    value: str = "a"
    second_bug: bool = False
    engine_calls: int = 0
    seen: Counter[str] = field(default_factory=Counter)

    def _series_hit(self, ds: Dataset, names: set[str]) -> bool:
        for s in ds.series:
            if s.name not in names or not s.samples:
                continue
            d = dict(s.labels)
            if (self.label is None and self.value in (v for k, v in s.labels if k != "__name__")) or (
                self.label is not None and d.get(self.label) == self.value
            ):
                return True
        return False

    def _under_func(self, path: Sequence[object]) -> bool:
        return any(
            isinstance(a, Call | AggregateExpr)
            and (self.func is None or (a.func if isinstance(a, Call) else a.op) == self.func)
            for a in path
        )

    def analyse(self, case: Case) -> tuple[set[str], set[str], frozenset[str]]:
        """(metrics under func, metrics elsewhere, features) of the query."""
        try:
            tree = parse(case.query)
        except PromQLSyntaxError:
            return set(), set(), frozenset()
        under: set[str] = set()
        other: set[str] = set()
        for n, path in walk(tree):
            if isinstance(n, VectorSelector):
                name = _selector_name(n)
                if name is None or (self.metric is not None and name != self.metric):
                    continue
                (under if self._under_func(path) else other).add(name)
        return under, other, features(tree)

    def __call__(self, case: Case) -> Verdict | None:
        self.engine_calls += 2
        self.seen[case.case_id()] += 1
        under, other, feats = self.analyse(case)
        if under and self._series_hit(case.dataset, under):
            cat = "value"
        elif self.second_bug and other and self._series_hit(case.dataset, other):
            cat = "missing_series"
        else:
            return Verdict.match("differential")
        sig = Signature("differential", cat, signature_features(feats), ("ok", "ok"), "fake")
        return Verdict("divergence", "differential", signature=sig)


def big_fault_cases(
    check: FaultCheck, n: int, seed: int = 1, max_depth: int = 5, min_tokens: int = 12
) -> list[Case]:
    """``n`` generated cases (dataset, query, params from :mod:`promfuzz.generators`) on which
    ``check`` reports its fault, each query at least ``min_tokens`` tokens long."""
    from promfuzz.generators.choices import RandomChoices
    from promfuzz.generators.datasets import generate_dataset
    from promfuzz.generators.params import generate_params
    from promfuzz.generators.queries import QueryConfig, generate_queries
    from promfuzz.generators.schema import DatasetSchema
    from promfuzz.shrink.size import size_of

    choices = RandomChoices(seed)
    out: list[Case] = []
    cfg = QueryConfig(max_depth=max_depth, invalid_p=0.0, variant_p=0.0)
    for _ in range(200):
        ds = generate_dataset(choices)
        schema = DatasetSchema.from_dataset(ds)
        for q in generate_queries(choices, schema, 100, cfg):
            if q.invalid:
                continue
            case = Case(ds, q.text, generate_params(choices, ds))
            under, _, _ = check.analyse(case)
            if not under or not check._series_hit(ds, under) or size_of(case).query_tokens < min_tokens:
                continue
            out.append(case)
            break
        if len(out) >= n:
            break
    return out


class SlowCheck:
    """Wraps a check and advances a fake clock (or sleeps) on every call."""

    def __init__(self, inner: Callable[[Case], Verdict | None], sleep: Callable[[], None]) -> None:
        self.inner = inner
        self.sleep = sleep
        self.calls = 0

    def __call__(self, case: Case) -> Verdict | None:
        self.calls += 1
        self.sleep()
        return self.inner(case)


# --------------------------------------------------------------------------- engines


class FaultyEngine(EngineBase):
    """A test-only engine wrapping a real one and perturbing its answers:

    * ``add_one_label``: adds 1 to every float point of result series that carry a label
      with this value;
    * ``drop_on``: when the query text matches this regex, drops the last series of a
      vector or matrix answer.
    """

    def __init__(
        self,
        inner: Engine,
        name: str = "faulty",
        add_one_label: str | None = None,
        drop_on: str | None = None,
    ) -> None:
        self.inner = inner
        self.name = name
        self.add_one_label = add_one_label
        self.drop_on = re.compile(drop_on) if drop_on else None

    def load(self, dataset: Dataset) -> LoadInfo:
        return self.inner.load(dataset)

    def perturb(self, text: str, r: Result) -> Result:
        r = replace(r, engine=self.name)
        if not r.ok or r.value_type not in ("vector", "matrix"):
            return r
        series: Sequence[ResultSeries] = r.series
        if self.add_one_label is not None:
            series = [
                ResultSeries(
                    s.labels,
                    tuple(Point(p.t, p.v + 1 if isinstance(p.v, float) else p.v) for p in s.points),
                )
                if any(v == self.add_one_label for _, v in s.labels)
                else s
                for s in series
            ]
        if self.drop_on is not None and self.drop_on.search(text) and series:
            series = list(series)[:-1]
        return replace(r, series=tuple(series))

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        return self.perturb(text, self.inner.query(text, params, timeout_s))

    def query_many(
        self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None
    ) -> list[Result]:
        rs = self.inner.query_many(items, timeout_s)
        return [self.perturb(t, r) for (t, _), r in zip(items, rs, strict=True)]

    def versions(self) -> dict[str, str]:
        return {"faulty": "test"}

    def dump(self) -> Dataset | None:
        return None


def iter_pass_candidates(case: Case, passes: Sequence[object]) -> Iterator[tuple[str, Case]]:
    """Every candidate every pass proposes for ``case`` (with the pass name)."""
    for p in passes:
        for cand in p.fn(case, ()):  # type: ignore[attr-defined]
            yield p.name, cand  # type: ignore[attr-defined]
