"""promfuzz vs promqlsmith on the same datasets and engine pair (prometheus vs mqe).

For each source in turn, a coverage build of each engine's host runs the source's queries
for the same budget on the same generated datasets (dataset ``i`` of seed ``s`` is the
same for both sources); every answer pair goes through :class:`DifferentialOracle`.
Reported per source: statement coverage of each engine's packages over time, distinct
divergence signatures (``Verdict.signature.key()`` of ``divergence`` and
``engine_failure`` verdicts), verdict counts, queries/s, the share of queries our parser
accepts and the share whose reference answer is non-empty. A PNG plot of coverage over
time goes to the output folder with ``compare.json`` and ``compare.txt``.

``python -m promfuzz.benchmarks.compare --budget 60 --out bench-out``
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promfuzz.benchmarks.coverage import (
    Batch,
    CoverageHost,
    CoverageSample,
    SmithGenerator,
    build_coverage_host,
    promfuzz_batches,
    smith_batches,
    spec_for_engine,
    upstream_batches,
    upstream_files,
)
from promfuzz.errors import ConfigError, PromQLSyntaxError
from promfuzz.model import Case, Result

COMPARE_SOURCES = ("promfuzz", "promqlsmith")
ALL_SOURCES = ("promfuzz", "promqlsmith", "upstream")
PROBLEM_KINDS = ("divergence", "engine_failure")
CHUNK = 10


@dataclass(frozen=True)
class SourceResult:
    """What one source reached in the budget."""

    source: str
    queries: int
    datasets: int
    elapsed_s: float
    parsed: int
    nonempty: int
    signatures: tuple[str, ...]
    verdicts: dict[str, int]
    coverage: dict[str, tuple[CoverageSample, ...]]  # engine -> samples over time (last = final)

    @property
    def qps(self) -> float:
        return self.queries / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def share(self, n: int) -> float:
        return n / self.queries if self.queries else 0.0

    def final_percent(self, engine: str) -> float:
        s = self.coverage.get(engine, ())
        return s[-1].percent if s else 0.0

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "queries": self.queries,
            "datasets": self.datasets,
            "elapsed_s": round(self.elapsed_s, 2),
            "queries_per_s": round(self.qps, 2),
            "parse_share": round(self.share(self.parsed), 4),
            "nonempty_share": round(self.share(self.nonempty), 4),
            "distinct_signatures": len(self.signatures),
            "signatures": list(self.signatures),
            "verdicts": dict(sorted(self.verdicts.items())),
            "coverage": {e: [s.to_json_obj() for s in ss] for e, ss in sorted(self.coverage.items())},
        }


@dataclass(frozen=True)
class CompareReport:
    reference: str
    target: str
    seed: int
    budget_s: float
    results: tuple[SourceResult, ...]
    plot: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "target": self.target,
            "seed": self.seed,
            "budget_s": self.budget_s,
            "results": [r.to_json_obj() for r in self.results],
            "plot": self.plot,
            "notes": list(self.notes),
        }

    def table(self) -> str:
        engines = (self.reference, self.target)
        head = (
            f"{'source':<12} {'queries':>8} {'q/s':>7} {'parse%':>7} {'nonempty%':>9} {'sigs':>5} "
            + " ".join(f"{'cov ' + e + '%':>16}" for e in engines)
        )
        lines = [
            f"{self.reference} vs {self.target}, seed {self.seed}, budget {self.budget_s:g}s per source",
            head,
        ]
        for r in self.results:
            lines.append(
                f"{r.source:<12} {r.queries:>8} {r.qps:>7.1f} {100 * r.share(r.parsed):>6.1f}% "
                f"{100 * r.share(r.nonempty):>8.1f}% {len(r.signatures):>5} "
                + " ".join(f"{r.final_percent(e):>15.2f}%" for e in engines)
            )
        for r in self.results:
            lines.append(
                f"{r.source} verdicts: " + ", ".join(f"{k}={v}" for k, v in sorted(r.verdicts.items()))
            )
        sets = {r.source: set(r.signatures) for r in self.results}
        for src, sig in sets.items():
            others = set().union(*(v for k, v in sets.items() if k != src))
            lines.append(f"signatures found only by {src}: {len(sig - others)} of {len(sig)}")
        if self.plot:
            lines.append(f"plot: {self.plot}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _parses(text: str) -> bool:
    from promfuzz.promql import parse

    try:
        parse(text)
    except PromQLSyntaxError:
        return False
    return True


def _nonempty(r: Result) -> bool:
    if not r.ok:
        return False
    return bool(r.series) or r.scalar is not None or r.string is not None


def _run_source(
    source: str,
    reference: str,
    target: str,
    budget_s: float,
    seed: int,
    sample_every_s: float,
    workdir: Path,
    build_dir: str | Path | None,
) -> SourceResult:
    from promfuzz.oracles import DifferentialOracle, load_rules
    from promfuzz.pipeline import engine_versions_for_rules

    hosts: dict[str, CoverageHost] = {}
    generator: SmithGenerator | None = None
    try:
        for name in (reference, target):
            spec = spec_for_engine(name)
            d = workdir / source / name
            d.mkdir(parents=True)
            hosts[name] = CoverageHost(spec, build_coverage_host(spec.binary, build_dir=build_dir), d)
        ref, tgt = hosts[reference].engine(reference), hosts[target].engine(target)
        versions = engine_versions_for_rules({reference: ref.versions(), target: tgt.versions()})
        oracle = DifferentialOracle(rules=load_rules(), versions=versions)
        batches: Iterator[Batch]
        if source == "promqlsmith":
            generator = SmithGenerator(build_dir)
            batches = smith_batches(seed, generator)
        elif source == "upstream":  # Prometheus's promqltest testdata, once (ends early)
            batches = upstream_batches(upstream_files("prometheus"))
        else:
            batches = promfuzz_batches(seed)
        sigs: set[str] = set()
        verdicts: Counter[str] = Counter()
        queries = datasets = parsed = nonempty = 0
        t0 = time.monotonic()
        next_sample = sample_every_s
        for batch in batches:
            if time.monotonic() - t0 >= budget_s:
                break
            ref.load(batch.dataset)
            tgt.load(batch.dataset)
            datasets += 1
            for k in range(0, len(batch.queries), CHUNK):
                chunk = batch.queries[k : k + CHUNK]
                rr = ref.query_many(chunk)
                tr = tgt.query_many(chunk)
                for (text, params), a, b in zip(chunk, rr, tr, strict=True):
                    v = oracle.check(Case(batch.dataset, text, params), a, b, detail=False)
                    verdicts[v.kind] += 1
                    if v.kind in PROBLEM_KINDS and v.signature is not None:
                        sigs.add(v.signature.key())
                    parsed += _parses(text)
                    nonempty += _nonempty(a)
                queries += len(chunk)
                now = time.monotonic() - t0
                if now >= next_sample:
                    for h in hosts.values():
                        h.snapshot(now, queries)
                    next_sample += sample_every_s
                if now >= budget_s:
                    break
        elapsed = time.monotonic() - t0
        for h in hosts.values():
            h.finish(elapsed, queries)
        coverage = {name: tuple(h.samples()[0]) for name, h in hosts.items()}
    finally:
        for h in hosts.values():
            h.close()
        if generator is not None:
            generator.close()
    return SourceResult(
        source, queries, datasets, elapsed, parsed, nonempty, tuple(sorted(sigs)), dict(verdicts), coverage
    )


def plot_coverage(results: Sequence[SourceResult], engines: Sequence[str], path: Path) -> Path:
    """One panel per engine: statement coverage (%) over time, one line per source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(engines), figsize=(5 * len(engines), 3.6), squeeze=False)
    for ax, eng in zip(axes[0], engines, strict=True):
        for r in results:
            ss = r.coverage.get(eng, ())
            ax.plot([0.0, *(s.t_s for s in ss)], [0.0, *(s.percent for s in ss)], marker="o", label=r.source)
        ax.set_title(f"{eng}: {spec_for_engine(eng).engine_packages}", fontsize=8)
        ax.set_xlabel("seconds")
        ax.set_ylabel("statement coverage (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def run_compare(
    budget_s: float,
    seed: int = 0,
    *,
    out_dir: str | Path | None = None,
    reference: str = "prometheus",
    target: str = "mqe",
    sample_every_s: float = 30.0,
    build_dir: str | Path | None = None,
    sources: Sequence[str] = COMPARE_SOURCES,
) -> CompareReport:
    """promfuzz vs promqlsmith, ``budget_s`` seconds each, on ``reference`` vs ``target``
    (coverage builds of both hosts). With ``out_dir``: writes ``compare.json``,
    ``compare.txt`` and ``coverage_over_time.png`` there. ``sources`` may add ``upstream``
    (Prometheus's promqltest evals, run once: it may end before the budget)."""
    for s in sources:
        if s not in ALL_SOURCES:
            raise ConfigError(f"unknown source {s!r}; known: {', '.join(ALL_SOURCES)}")
    import tempfile

    results = []
    with tempfile.TemporaryDirectory(prefix="promfuzz-compare-") as tmp:
        for source in sources:
            results.append(
                _run_source(source, reference, target, budget_s, seed, sample_every_s, Path(tmp), build_dir)
            )
    plot = None
    notes = (
        "promqlsmith iterates Go maps internally, so its queries for a seed vary between runs",
        "parse share: promfuzz's own parser (promfuzz.promql.parse)",
    )
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        plot = str(plot_coverage(results, (reference, target), out / "coverage_over_time.png"))
    rep = CompareReport(reference, target, seed, budget_s, tuple(results), plot, notes)
    if out_dir is not None:
        (Path(out_dir) / "compare.json").write_text(
            json.dumps(rep.to_json_obj(), indent=2, sort_keys=True) + "\n"
        )
        (Path(out_dir) / "compare.txt").write_text(rep.table() + "\n")
    return rep


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m promfuzz.benchmarks.compare --budget 60 --out DIR``"""
    ap = argparse.ArgumentParser(prog="promfuzz bench compare", description="promfuzz vs promqlsmith")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per source")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench-compare"), help="output folder")
    ap.add_argument("--reference", default="prometheus")
    ap.add_argument("--target", default="mqe")
    ap.add_argument("--sample-every", type=float, default=30.0, help="seconds between coverage samples")
    ap.add_argument("--with-upstream", action="store_true", help="also run Prometheus's promqltest evals")
    args = ap.parse_args(argv)
    rep = run_compare(
        args.budget,
        args.seed,
        out_dir=args.out,
        reference=args.reference,
        target=args.target,
        sample_every_s=args.sample_every,
        sources=(*COMPARE_SOURCES, "upstream") if args.with_upstream else COMPARE_SOURCES,
    )
    print(rep.table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
