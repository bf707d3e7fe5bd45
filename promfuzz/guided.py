"""Engine-coverage-guided campaigns: ``promfuzz run --guided`` (issue #17 item 4).

The target runs on a coverage build of its host (``go build -cover``,
:func:`promfuzz.benchmarks.coverage.build_coverage_host`); the reference on its ordinary
host. After every case the loop asks the target host for its counters (hostkit's
``POST /coverage/flush``: a few milliseconds, a counter file of the live functions) and
reads them itself (:func:`parse_counter_file`, Go's counter-data format: no ``go tool
covdata`` per case). A case that makes a counter of the engine non-zero for the first time
reached new code: it joins the **seed pool**. Cases come from three sources,

* ``grammar``: fresh campaign cases (:func:`~promfuzz.generators.cases.generate_dataset_with_queries`),
* ``mutate``: a pool seed's query mutated by the upstream-seed mutator
  (:class:`~promfuzz.generators.mutate.Mutator`, one to three structural mutations, on the
  seed's own dataset),
* ``data``: a pool seed's query on its dataset changed by one of the shrinker's dataset
  passes (:mod:`promfuzz.shrink.dataset_passes`: fewer series or samples, simpler values,
  fewer labels, a cut time range),

chosen by a UCB1 bandit whose reward is "this case reached new counters", :data:`BURST`
cases per pick on one dataset (one load per burst). Every case is
judged as in campaigns (:class:`promfuzz.pytest_failure.SameResultCheck`: the differential
oracle, the shipped rules with version ranges, the operand resolver); divergences and
engine failures are stored in the corpus (unshrunk: ``promfuzz shrink`` reduces them).

``guided=False`` runs the same loop with the grammar source alone and no per-case counter
read (the unguided baseline at its own speed). Statement coverage over time is sampled
every ``sample_every_s`` into folders read with ``go tool covdata`` at the end, as
``promfuzz bench coverage`` does. ``python -m promfuzz.guided --help`` compares both.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promfuzz.errors import ConfigError, EngineError
from promfuzz.model import Case

SOURCES = ("grammar", "mutate", "data")
BURST = 8
"""Cases per bandit pick, on one dataset: loading a dataset into the coverage host costs
more than a query, and a burst shares one load (unbursted, guided ran 7x fewer cases/s)."""
COUNTER_MAGIC = b"\x00cwm"
_FILE_HEADER = 32  # magic, version u32, meta hash [16], flavor u8, big-endian u8, 6 pad
_SEGMENT_HEADER = struct.Struct("<QII")  # function entries, string table length, args length
_FLAVOR_RAW, _FLAVOR_ULEB = 1, 2


class CounterFormatError(EngineError):
    """A coverage counter file that does not parse."""


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    v = shift = 0
    while True:
        if pos >= len(data):
            raise CounterFormatError("truncated ULEB128 value")
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, pos
        shift += 7


def parse_counter_file(data: bytes) -> Iterator[tuple[int, int, list[int]]]:
    """``(package id, function id, counters)`` of each function in a Go coverage counter
    file (``covcounters.*``, format of Go's ``internal/coverage/encodecounter``)."""
    if len(data) < _FILE_HEADER or data[:4] != COUNTER_MAGIC:
        raise CounterFormatError("not a Go coverage counter file (bad magic)")
    flavor, big = data[24], data[25]
    if big or flavor not in (_FLAVOR_RAW, _FLAVOR_ULEB):
        raise CounterFormatError(f"unsupported counter flavor {flavor} (big-endian {big})")
    pos = _FILE_HEADER
    data = data[: len(data) - 16]  # the footer (magic, segment count)
    try:
        yield from _segments(data, pos, flavor)
    except struct.error as e:
        raise CounterFormatError(f"truncated counter file: {e}") from e


def _segments(data: bytes, pos: int, flavor: int) -> Iterator[tuple[int, int, list[int]]]:
    while pos < len(data):
        entries, strtab, args = _SEGMENT_HEADER.unpack_from(data, pos)
        pos += _SEGMENT_HEADER.size + strtab + args
        for _ in range(entries):
            if flavor == _FLAVOR_ULEB:
                n, pos = _uleb(data, pos)
                pk, pos = _uleb(data, pos)
                fn, pos = _uleb(data, pos)
                ctrs = []
                for _ in range(n):
                    c, pos = _uleb(data, pos)
                    ctrs.append(c)
            else:
                n, pk, fn = struct.unpack_from("<III", data, pos)
                ctrs = list(struct.unpack_from(f"<{n}I", data, pos + 12))
                pos += 12 + 4 * n
            yield pk, fn, ctrs


def covered_units(data: bytes) -> set[tuple[int, int, int]]:
    """The non-zero counters ``(package id, function id, index)`` of a counter file."""
    return {(pk, fn, i) for pk, fn, ctrs in parse_counter_file(data) for i, c in enumerate(ctrs) if c}


class CounterReader:
    """Reads a running coverage host's counters (cumulative since it started)."""

    def __init__(self, process: Any, folder: Path) -> None:
        self.process = process
        self.folder = folder

    def read(self) -> set[tuple[int, int, int]]:
        # Only the counter files go: Go writes the (large) meta-data file once per folder.
        for old in self.folder.glob("covcounters.*"):
            old.unlink()
        r = self.process.request("POST", "/coverage/flush", 60.0, data={"dir": str(self.folder)})
        if r.status_code != 200:
            raise EngineError(f"/coverage/flush answered {r.status_code}: {r.text[:300]}")
        files = sorted(self.folder.glob("covcounters.*"))
        if not files:
            raise EngineError(f"/coverage/flush wrote no counter file into {self.folder}")
        return covered_units(files[-1].read_bytes())


# --------------------------------------------------------------------------- sources


@dataclass
class Seed:
    case: Case
    source: str
    gain: int  # counters it reached first
    picks: int = 0


class Bandit:
    """UCB1 over the case sources; reward 1 when a case reached new counters."""

    def __init__(self, arms: Sequence[str]) -> None:
        self.arms = list(arms)
        self.n = Counter[str]()
        self.reward: dict[str, float] = {a: 0.0 for a in self.arms}

    def pick(self) -> str:
        for a in self.arms:
            if self.n[a] == 0:
                return a
        total = sum(self.n.values())
        return max(self.arms, key=lambda a: self.reward[a] / self.n[a] + math.sqrt(2 * math.log(total) / self.n[a]))

    def update(self, arm: str, reward: float) -> None:
        self.n[arm] += 1
        self.reward[arm] += reward


class CaseSource:
    """Fresh grammar cases and mutations of pool seeds, from one seed."""

    def __init__(self, seed: int, per_dataset: int = 25) -> None:
        from promfuzz.generators.cases import CaseConfig
        from promfuzz.generators.choices import RandomChoices

        self.seed = seed
        self.per = per_dataset
        self.config = CaseConfig()
        self.c = RandomChoices(f"{seed}:guided")
        self._batch = 0
        self._pending: list[Case] = []

    def grammar(self) -> Case:
        from promfuzz.generators.cases import generate_dataset_with_queries

        if not self._pending:
            b = generate_dataset_with_queries(f"{self.seed}:{self._batch}", self.per, self.config)
            self._batch += 1
            self._pending = [g.case for g in b.cases()][::-1]
        return self._pending.pop()

    def pick_seed(self, pool: list[Seed]) -> Seed:
        # Favour seeds that gained much and were mutated little (AFL-style energy).
        weights = [(s, (1 + s.gain) / (1 + s.picks)) for s in pool]
        s = self.c.weighted(weights)
        s.picks += 1
        return s

    def mutate(self, seed: Seed) -> Case | None:
        from promfuzz.generators.cases import params_for
        from promfuzz.generators.mutate import MutationConfig, Mutator
        from promfuzz.generators.schema import DatasetSchema
        from promfuzz.generators.seeds import SeedQuery
        from promfuzz.promql import parse

        try:
            node = parse(seed.case.query)
        except Exception:  # noqa: BLE001 - a deliberately invalid seed query: mutate its data instead
            return None
        schema = DatasetSchema.from_dataset(seed.case.dataset)
        from promfuzz.generators.mutate import _vt  # the mutator's own value-type rule

        vt = _vt(node)
        if vt is None:
            return None
        sq = SeedQuery(node, seed.case.query, vt, "pool", "", 0)
        try:
            m = Mutator(self.c, schema, [sq], MutationConfig(map_to_schema=False, combine_p=0.05),
                        self.config.query).mutant()
        except Exception:  # noqa: BLE001 - no mutant for this seed
            return None
        params = seed.case.params if self.c.boolean(0.5) else params_for(self.c, schema, m.value_type,
                                                                          self.config.params)
        return Case(seed.case.dataset, m.text, params)

    def mutate_data(self, seed: Seed) -> Case | None:
        from promfuzz.shrink import dataset_passes as dp

        passes: list[Callable[[Case], Iterator[Case]]] = [
            dp.drop_series, dp.drop_samples, dp.simplify_values, dp.drop_labels, dp.cut_time_range,
            dp.round_sample_times,
        ]
        for _ in range(3):
            p = self.c.choice(passes)
            p = getattr(p, "__wrapped__", p)  # without the shrinker's "strictly smaller" size check (slow)
            try:
                cands = []
                for k, cand in enumerate(p(seed.case)):
                    cands.append(cand)
                    if k >= 3:
                        break
            except Exception:  # noqa: BLE001 - a pass that does not apply to this case
                continue
            if cands:
                return self.c.choice(cands)
        return None


# --------------------------------------------------------------------------- the loop


@dataclass
class GuidedStats:
    guided: bool
    cases: int = 0
    elapsed_s: float = 0.0
    counters: int = 0
    pool: int = 0
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    verdicts: Counter[str] = field(default_factory=Counter)
    signatures: dict[str, float] = field(default_factory=dict)  # divergence key -> first seen (s)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # t, cases, counters, divergences, pool
    coverage: list[dict[str, Any]] = field(default_factory=list)  # t, cases, covered, statements, percent
    stored: list[str] = field(default_factory=list)
    read_s: float = 0.0  # time spent reading counters

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "guided": self.guided, "cases": self.cases, "elapsed_s": round(self.elapsed_s, 2),
            "cases_per_s": round(self.cases / self.elapsed_s, 2) if self.elapsed_s else 0.0,
            "counters": self.counters, "pool": self.pool, "by_source": self.by_source,
            "verdicts": dict(self.verdicts), "divergences": len(self.signatures),
            "divergences_per_min": round(60 * len(self.signatures) / self.elapsed_s, 2) if self.elapsed_s else 0.0,
            "signatures": self.signatures, "timeline": self.timeline, "coverage": self.coverage,
            "stored": self.stored, "counter_read_s": round(self.read_s, 2),
        }


def run_guided(
    target: str,
    reference: str,
    budget_s: float,
    *,
    seed: int = 0,
    guided: bool = True,
    corpus: Path | None = None,
    sample_every_s: float = 30.0,
    max_cases: int | None = None,
    build_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> GuidedStats:
    """One guided (or, ``guided=False``, unguided) run of ``budget_s`` seconds against the
    coverage build of ``target``'s host."""
    from promfuzz.benchmarks.coverage import (
        CoverageHost,
        build_coverage_host,
        profile_of_dir,
        spec_for_engine,
    )
    from promfuzz.engines.registry import open_engine
    from promfuzz.pipeline import finding_key
    from promfuzz.pytest_failure import FAILING_KINDS, SameResultCheck

    if budget_s <= 0 and not max_cases:
        raise ConfigError("a guided run needs a positive budget")
    spec = spec_for_engine(target)
    binary = build_coverage_host(spec.binary, build_dir=build_dir)
    stats = GuidedStats(guided=guided)
    store = None
    if corpus is not None:
        from promfuzz.corpus.store import CorpusStore

        store = CorpusStore(corpus)
    with tempfile.TemporaryDirectory(prefix="promfuzz-guided-") as tmp:
        work = Path(tmp)
        host = CoverageHost(spec, binary, work)
        ref = open_engine(reference, build_dir=build_dir)
        try:
            tgt = host.engine(target)
            check = SameResultCheck(ref, tgt)
            reader = CounterReader(host.process, work / "live")
            src = CaseSource(seed)
            bandit = Bandit(SOURCES if guided else ("grammar",))
            pool: list[Seed] = []
            seen: set[tuple[int, int, int]] = reader.read() if guided else set()
            base = len(seen)
            per_source = {s: Counter[str]() for s in bandit.arms}
            loaded: dict[int, Any] = {}  # id(engine) -> the dataset it holds
            t0 = time.monotonic()
            next_sample = sample_every_s
            next_tick = 10.0

            def judge(case: Case) -> tuple[Any, Any]:
                """check.judge, loading a dataset only when it is not the one loaded
                (mutants of a seed share its dataset)."""
                for e in (ref, tgt):
                    if loaded.get(id(e)) is not case.dataset:
                        e.load(case.dataset)
                        loaded[id(e)] = case.dataset
                r = ref.query(case.query, case.params)
                t = tgt.query(case.query, case.params)
                v = check.oracle.check(case, r, t, operand=lambda text: ref.query(text, case.params))
                return v, r

            pending: list[tuple[str, Case]] = []

            def burst(arm: str) -> list[tuple[str, Case]]:
                """BURST cases of one source on one dataset (a load per burst, not per case):
                grammar cases of the current batch, mutants of one seed on its dataset, or
                one dataset mutant of a seed with its query and mutants of it on that data."""
                out: list[tuple[str, Case]] = []
                if arm == "mutate":
                    seed_ = src.pick_seed(pool)
                    out = [("mutate", c) for c in (src.mutate(seed_) for _ in range(BURST)) if c is not None]
                elif arm == "data":
                    seed_ = src.pick_seed(pool)
                    moved = src.mutate_data(seed_)
                    if moved is not None:
                        on_new = Seed(moved, "data", 0)
                        out = [("data", moved)] + [("data", c) for c in (src.mutate(on_new) for _ in range(BURST - 1))
                                                   if c is not None]
                if not out:
                    if arm != "grammar":
                        bandit.update(arm, 0.0)
                        per_source[arm]["empty"] += 1
                    out = [("grammar", src.grammar()) for _ in range(BURST)]
                return out

            while True:
                now = time.monotonic() - t0
                if (budget_s > 0 and now >= budget_s) or (max_cases is not None and stats.cases >= max_cases):
                    break
                if not pending:
                    pending = burst(bandit.pick() if pool or not guided else "grammar")
                arm, case = pending.pop(0)
                verdict, r = judge(case)
                stats.cases += 1
                stats.verdicts[verdict.kind] += 1
                per_source[arm]["cases"] += 1
                if verdict.kind in FAILING_KINDS and verdict.signature is not None:
                    key = finding_key(verdict)
                    if key not in stats.signatures:
                        stats.signatures[key] = round(time.monotonic() - t0, 2)
                        per_source[arm]["divergences"] += 1
                        if store is not None:
                            out = store.add(case, key, expected=r, oracle=verdict.oracle, verdict=verdict.to_json_obj(),
                                            engines=dict(check.versions), note=f"found by promfuzz run --guided ({arm})")
                            stats.stored.append(str(out.stored.test_path))
                if guided:
                    t_read = time.monotonic()
                    units = reader.read()
                    stats.read_s += time.monotonic() - t_read
                    new = units - seen
                    if new:
                        seen |= new
                        pool.append(Seed(case, arm, len(new)))
                        per_source[arm]["new_coverage"] += 1
                    bandit.update(arm, 1.0 if new else 0.0)
                now = time.monotonic() - t0
                if now >= next_sample:
                    host.snapshot(now, stats.cases)
                    next_sample += sample_every_s
                if now >= next_tick:
                    next_tick += 10.0
                    stats.timeline.append({"t": round(now, 1), "cases": stats.cases, "counters": len(seen) - base,
                                           "divergences": len(stats.signatures), "pool": len(pool)})
                    if progress:
                        progress(f"{now:6.0f}s {stats.cases} cases, {len(stats.signatures)} divergences"
                                 + (f", pool {len(pool)}, +{len(seen) - base} counters" if guided else ""))
            stats.elapsed_s = time.monotonic() - t0
            stats.counters = len(seen) - base
            stats.pool = len(pool)
            stats.by_source = {a: dict(c) for a, c in per_source.items()}
            host.finish(stats.elapsed_s, stats.cases)
        finally:
            host.close()
            ref.close()
        for t_s, q, d in host.snapshots:
            prof = profile_of_dir(d, spec.counts)
            stats.coverage.append({"t": round(t_s, 1), "cases": q, "covered": prof.covered,
                                   "statements": prof.statements, "percent": round(prof.percent, 2)})
    return stats


def run_guided_command(args: Any) -> int:
    """``promfuzz run --guided``: one target, the run's budget, seed, corpus and report
    folder (``guided.json`` there: coverage over time, divergences, pool, sources)."""
    from datetime import UTC, datetime

    from promfuzz.budget import parse_budget
    from promfuzz.engines.registry import resolve_reference

    targets = args.target or ["mqe"]
    if len(targets) != 1:
        raise ConfigError("--guided takes one --target (its coverage build gives the feedback)")
    target = targets[0]
    reference = resolve_reference(args.reference, target)
    budget = parse_budget(args.budget)
    seed = args.seed if args.seed is not None else int(time.time()) % 1_000_000
    out = args.out or Path("reports") / ("guided-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))
    print(f"promfuzz run --guided: {target} (coverage build) vs {reference}, {budget}, "
          f"seed {seed}", file=sys.stderr, flush=True)
    stats = run_guided(target, reference, budget.seconds or 0.0, seed=seed, max_cases=budget.cases,
                       corpus=args.corpus, progress=None if args.no_progress else
                       (lambda m: print(m, file=sys.stderr, flush=True)))
    out.mkdir(parents=True, exist_ok=True)
    doc = {"target": target, "reference": reference, "seed": seed, **stats.to_json_obj()}
    (out / "guided.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    cov = stats.coverage[-1] if stats.coverage else None
    print(f"{stats.cases} cases in {stats.elapsed_s:.0f} s; {len(stats.signatures)} divergence signatures"
          f" ({len(stats.stored)} stored in {args.corpus}); pool {stats.pool}"
          + (f"; {target} statement coverage {cov['percent']:.2f}% ({cov['covered']}/{cov['statements']})" if cov else "")
          + f"; report {out / 'guided.json'}")
    if getattr(args, "fail_on_divergence", False) and stats.signatures:
        return 1
    return 0


# --------------------------------------------------------------------------- comparison


def plot(runs: dict[str, GuidedStats], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, s in runs.items():
        xs = [0.0] + [c["t"] / 60 for c in s.coverage]
        ys = [0.0] + [c["percent"] for c in s.coverage]
        ax.plot(xs, ys, marker=".", label=f"{name} ({s.coverage[-1]['percent'] if s.coverage else 0:.2f}%)")
    ax.set_xlabel("minutes")
    ax.set_ylabel("statement coverage (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _stats_of(obj: dict[str, Any]) -> GuidedStats:
    s = GuidedStats(guided=obj["guided"], cases=obj["cases"], elapsed_s=obj["elapsed_s"], counters=obj["counters"],
                    pool=obj["pool"], by_source=obj["by_source"], signatures=obj["signatures"],
                    timeline=obj["timeline"], coverage=obj["coverage"], stored=obj["stored"],
                    read_s=obj["counter_read_s"])
    s.verdicts.update(obj["verdicts"])
    return s


def combine(files: Sequence[Path], out: Path) -> int:
    """One plot and table per target from the ``guided-*.json`` files of earlier runs."""
    by_target: dict[str, dict[str, GuidedStats]] = {}
    for f in files:
        doc = json.loads(f.read_text())
        for mode, obj in doc["runs"].items():
            by_target.setdefault(doc["target"], {})[mode] = _stats_of(obj)
    out.mkdir(parents=True, exist_ok=True)
    for target, runs in by_target.items():
        png = plot(runs, out / f"guided-vs-unguided-{target}.png", f"{target}: statement coverage over time")
        for k, v in runs.items():
            j = v.to_json_obj()
            cov = v.coverage[-1]["percent"] if v.coverage else float("nan")
            print(f"{target:10s} {k:9s} {cov:6.2f}% statements after {j['elapsed_s']:.0f} s, {j['cases']} cases "
                  f"({j['cases_per_s']}/s), {j['divergences']} divergence signatures ({j['divergences_per_min']}/min), "
                  f"pool {j['pool']}, counter reads {j['counter_read_s']} s")
        print(f"plot: {png}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m promfuzz.guided",
                                description="guided vs unguided: engine statement coverage and divergences over time")
    p.add_argument("--target", default="mqe")
    p.add_argument("--reference", default="auto")
    p.add_argument("--budget", type=float, default=600.0, help="seconds per run (default 600)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-every", type=float, default=30.0)
    p.add_argument("--modes", default="guided,unguided")
    p.add_argument("--out", type=Path, default=Path("bench-out/guided"))
    p.add_argument("--combine", type=Path, nargs="+", metavar="JSON",
                   help="no run: plot and tabulate runs written before (e.g. guided and unguided run side by side)")
    args = p.parse_args(argv)
    if args.combine:
        return combine(args.combine, args.out)
    from promfuzz.engines.registry import resolve_reference

    reference = resolve_reference(args.reference, args.target)
    args.out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, GuidedStats] = {}
    for mode in args.modes.split(","):
        if mode not in ("guided", "unguided"):
            raise ConfigError(f"--modes: guided or unguided, got {mode!r}")
        print(f"== {mode}: {args.target} vs {reference}, {args.budget:g} s", file=sys.stderr, flush=True)
        runs[mode] = run_guided(args.target, reference, args.budget, seed=args.seed, guided=mode == "guided",
                                sample_every_s=args.sample_every,
                                progress=lambda m: print(m, file=sys.stderr, flush=True))
    doc = {"target": args.target, "reference": reference, "budget_s": args.budget, "seed": args.seed,
           "runs": {k: v.to_json_obj() for k, v in runs.items()}}
    (args.out / f"guided-{args.target}.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    png = plot(runs, args.out / f"guided-{args.target}.png", f"{args.target}: statement coverage over time")
    for k, v in runs.items():
        j = v.to_json_obj()
        cov = v.coverage[-1]["percent"] if v.coverage else float("nan")
        print(f"{k:9s} {args.target}: {cov:.2f}% statements, {j['cases']} cases ({j['cases_per_s']}/s), "
              f"{j['divergences']} divergences ({j['divergences_per_min']}/min), pool {j['pool']}, "
              f"counter reads {j['counter_read_s']} s")
    print(f"plot: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
