"""Parser-aware generation: leave out what one engine of a comparison cannot parse.

promfuzz's function table and grammar follow Prometheus v0.316.0; Thanos vendors v0.308.0
and the Mimir fork is older too, so some generated queries (``start_timestamp()``,
``min_of``, the trim operators ``</`` and ``>/``, ``step()`` in duration expressions, ...)
are parse errors on one side: budget spent on version skew, not on engines. Campaigns ask
every engine host of the comparison for its parser's own tables (``GET
/api/v1/functions``: ``parser.Functions``, aggregations, binary operators) and probe the
syntax the generator uses (``GET /api/v1/parse`` of one small query per construct), and
the generator leaves out whatever any of them lacks: the oldest parser of the pair wins.
It also leaves out what an engine parses but declines to run (``unsupported``: MQE's
``</``, ``>/`` and ``fill``; Thanos's range-vector and string results), found by running
one probe per construct on empty data (:func:`engine_exclusions`).
:func:`generation_exclusions` returns feature -> reason, which the generator takes as its
``exclude`` set (:class:`promfuzz.generators.queries.QueryConfig`; ``top:matrix`` and
``top:string`` remove a result type) and the report lists.

:func:`skew_share` measures the share of generated cases one side's parser rejects while
promfuzz's own accepts them (what ``bench/bench_parser_skew.py`` prints before/after).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from promfuzz.promql.functions import AGGREGATIONS, BINARY_OPERATORS, FUNCTIONS

SYNTAX_PROBES: dict[str, str] = {
    "match:fill": "a + fill(0) b",
    "match:fill_left": "a + fill_left(0) b",
    "match:fill_right": "a + fill_right(0) b",
    "mod:anchored": "rate(a[1m] anchored)",
    "mod:smoothed": "rate(a[1m] smoothed)",
    "mod:duration_expr": "a offset (1m + 1m)",
    "mod:@": "a @ 1",
    "mod:negative_offset": "a offset -1m",
    "mod:subquery_default_step": "a[5m:]",
    "sel:utf8_name": '{"a.b"}',
}
"""One small query per construct the generator emits beyond functions and operators."""


def _base_url(engine: Any) -> str | None:
    proc = getattr(engine, "process", None)
    url = getattr(proc, "base_url", None)
    return url if isinstance(url, str) else None


def _get(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback host
        return json.loads(r.read())


def host_tables(base_url: str) -> dict[str, Any]:
    """The parser tables a host serves (``functions``, ``aggregations``, ``binaryOperators``)."""
    return dict(_get(base_url + "/api/v1/functions")["data"])


def parses(base_url: str, query: str) -> bool:
    try:
        d = _get(base_url + "/api/v1/parse?" + urllib.parse.urlencode({"query": query}))
    except urllib.error.HTTPError as e:  # 400 with an error body
        return bool(json.loads(e.read() or b"{}").get("status") == "success")
    return bool(d.get("status") == "success")


def _version(engine: Any) -> str:
    try:
        vers = engine.versions()
    except Exception:  # noqa: BLE001 - decoration only
        return ""
    v = next((v for m, v in vers.items() if m.endswith("prometheus/prometheus")), "")
    if "grafana/mimir-prometheus" in v:
        return f"mimir-prometheus {v.rsplit(' ', 1)[-1]}"
    return f"Prometheus {v.rsplit(' ', 1)[-1]}" if v else ""


def exclusions_for(name: str, base_url: str, version: str = "") -> dict[str, str]:
    """What promfuzz's generator could emit that the parser of one host cannot parse."""
    tables = host_tables(base_url)
    where = f"{name}'s parser" + (f" ({version})" if version else "")
    out: dict[str, str] = {}
    fns = {f["name"] for f in tables.get("functions", [])}
    for fn in sorted(set(FUNCTIONS) - fns):
        out[f"fn:{fn}"] = f"function {fn} is not in {where}"
    aggs = set(tables.get("aggregations", []))
    for agg in sorted(set(AGGREGATIONS) - aggs):
        out[f"agg:{agg}"] = f"aggregation {agg} is not in {where}"
    ops = set(tables.get("binaryOperators", []))
    for op in BINARY_OPERATORS:
        if op not in ops:
            out[f"op:{op}"] = f"operator {op} is not in {where}"
    for feature, probe in SYNTAX_PROBES.items():
        if not parses(base_url, probe):
            out[feature] = f"{where} rejects {probe!r}"
    return out


def parser_exclusions(engines: Iterable[Any]) -> dict[str, str]:
    """Feature -> reason for everything one of ``engines`` cannot parse (engines that are
    not Go hosts, e.g. http: targets, have no tables to ask and add nothing). Engines of
    one host process are asked once."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for e in engines:
        url = _base_url(e)
        if url is None or url in seen:
            continue
        seen.add(url)
        if not getattr(e, "process", None) or not getattr(e.process, "ready", None):
            e.versions()  # starts the host
        for k, why in exclusions_for(str(getattr(e, "name", "?")), url, _version(e)).items():
            out.setdefault(k, why)
    return dict(sorted(out.items()))


ENGINE_PROBES: dict[str, str] = {
    "op:</": "a </ b",
    "op:>/": "a >/ b",
    "match:fill": "a + fill(0) b",
    "match:fill_left": "a + fill_left(0) b",
    "match:fill_right": "a + fill_right(0) b",
    "mod:anchored": "rate(a[1m] anchored)",
    "mod:smoothed": "rate(a[1m] smoothed)",
    "mod:duration_expr": "a offset (1m + 1m)",
    "top:matrix": "a[1m]",
    "top:string": '"x"',
}
"""Constructs an engine may parse but decline to run (``unsupported``): probed by running
them on empty data; ``top:matrix`` / ``top:string`` are the query's own result type."""

_ARG = {"vector": "a", "matrix": "a[1m]", "scalar": "1", "string": '"x"'}


def function_probe(name: str) -> str:
    """A call of function ``name`` with the fewest arguments, each of its type."""
    f = FUNCTIONS[name]
    return f"{name}({', '.join(_ARG[f.arg_type(i)] for i in range(f.min_args))})"


def engine_exclusions(engines: Iterable[Any], skip: Iterable[str] = ()) -> dict[str, str]:
    """Feature -> reason for every construct one of ``engines`` declines as unsupported
    (MQE: ``unknown binary operation: </``, the ``fill`` modifier; Thanos: a range vector
    or string as the query's result): each engine gets empty data and one instant query
    per probe (every function, :data:`ENGINE_PROBES`). ``skip``: features already left
    out. Engines that are not Go hosts are not probed."""
    from promfuzz.model import Dataset, EvalParams

    skip = set(skip)
    probes = {k: q for k, q in ENGINE_PROBES.items() if k not in skip}
    probes.update({f"fn:{n}": function_probe(n) for n in sorted(FUNCTIONS) if f"fn:{n}" not in skip})
    out: dict[str, str] = {}
    for e in engines:
        if _base_url(e) is None:
            continue
        e.load(Dataset())
        items = [(q, EvalParams.instant(0)) for q in probes.values()]
        for (feature, q), r in zip(probes.items(), e.query_many(items), strict=True):
            if r.outcome == "unsupported" and feature not in out:
                msg = " ".join((r.error.message if r.error else "").split())[:100]
                out[feature] = f"{e.name} declines {q!r} as unsupported ({msg})"
    return dict(sorted(out.items()))


def generation_exclusions(engines: Sequence[Any]) -> dict[str, str]:
    """Everything the generator leaves out for ``engines``: what one parser cannot parse
    (:func:`parser_exclusions`), then what one engine declines to run
    (:func:`engine_exclusions`)."""
    out = parser_exclusions(engines)
    for k, v in engine_exclusions(engines, skip=out).items():
        out.setdefault(k, v)
    return dict(sorted(out.items()))


def format_left_out(left_out: Mapping[str, str]) -> list[str]:
    """One line per reason group, for the console and the report."""
    return [f"{k}: {v}" for k, v in left_out.items()]


def skew_share(engines: Sequence[Any], seed: int, datasets: int, per_dataset: int,
               exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Generate ``datasets`` x ``per_dataset`` campaign cases (with ``exclude`` left out)
    and count those every engine's parser should accept (the generator did not make them
    invalid on purpose) that some engine's parser rejects: version-skew noise."""
    from promfuzz.pipeline import generate_dataset_cases
    from promfuzz.plan import dataset_seed

    urls = [(str(e.name), u) for e in engines if (u := _base_url(e)) is not None]
    total = skew = 0
    by_engine: dict[str, int] = {}
    examples: list[str] = []
    for d in range(datasets):
        _, cases = generate_dataset_cases(dataset_seed(seed, d), per_dataset, exclude=exclude)
        for c in cases:
            total += 1
            if c.invalid:
                continue
            bad = [n for n, u in urls if not parses(u, c.query)]
            if bad and len(bad) < len(urls):
                skew += 1
                for n in bad:
                    by_engine[n] = by_engine.get(n, 0) + 1
                if len(examples) < 5:
                    examples.append(f"{'/'.join(bad)}: {c.query[:120]}")
            elif bad:  # no engine parses it, though the generator meant it valid
                skew += 1
                by_engine["all"] = by_engine.get("all", 0) + 1
    return {"cases": total, "skew": skew, "share": skew / total if total else 0.0,
            "by_engine": by_engine, "examples": examples}
