"""``promfuzz bench oracle``: how many faults does the oracle catch?

A fault-detection benchmark for the differential oracle (issue #12, item 4). It prints
numbers and never passes or fails.

1. **Real pairs.** Datasets and queries are generated exactly as a campaign generates them
   (dataset ``d`` of run seed ``s`` is :func:`promfuzz.plan.dataset_seed` ``(s, d)``,
   its queries from :func:`promfuzz.pipeline.generate_dataset_cases`), loaded into the
   reference and the target engine (real hosts, :func:`promfuzz.engines.registry.open_engine`)
   and asked of both. A pair is kept when the real oracle -- :class:`DifferentialOracle`
   with the shipped rules and the engines' versions, as the pipeline builds it -- judges it
   ``match`` (answers with equal digests are a match without a check, as in the pipeline;
   digests come first, bodies only where needed; cases where an engine touched more than
   :data:`MAX_SAMPLES` samples are skipped and counted).
2. **Mutants.** Every operator of :mod:`promfuzz.benchmarks.oracle_mutations` that applies
   to the pair changes the target's answer; the mutant goes through the same
   ``DifferentialOracle.check`` call the pipeline makes. With a comparator that accepts an
   ``operand`` resolver, the resolver answers subexpressions on the reference engine (same
   parameters, answers cached per dataset).
3. **Score.** A mutant is *flagged* when the verdict is neither ``match`` nor ``expected``.
   Per operator: applied, flagged, and the share flagged -- for ``forbidden`` operators the
   target is 100%, for ``allowed`` ones 0%. Also the oracle's judging throughput: mutants
   judged per second of time spent inside ``check``.

The same seed gives the same pairs and the same mutants (a case budget gives the same
counts; a time budget a prefix of the same sequence). Progress goes to stderr; Ctrl-C stops
and prints what was measured so far.

``promfuzz bench oracle --budget 60s --seed 1 --json oracle.json``
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promfuzz.benchmarks.oracle_mutations import OPERATORS, OperandResolver, Operator, Pair
from promfuzz.budget import Budget, parse_budget
from promfuzz.engines.base import RawAnswer
from promfuzz.errors import ConfigError, PromfuzzError
from promfuzz.model import Case, EvalParams, Result

CHUNK = 100
"""Queries per batch: the budget and Ctrl-C are honoured between batches and between pairs."""

MISS_EXAMPLES = 3
"""Misjudged mutants kept per operator (query, verdict, what was changed)."""

NOT_FLAGGED = ("match", "expected")

MAX_SAMPLES = 1_000_000
"""Cases where an engine touched more samples than this are not judged or mutated: their
answers can be huge (seed 1's first dataset has a 10,000-step range of native histograms,
52k points, 23 s to decode in Python: longer than the rest of its dataset)."""


# --------------------------------------------------------------------------- results


@dataclass
class OperatorTally:
    kind: str
    applied: int = 0
    flagged: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def share(self) -> float | None:
        return self.flagged / self.applied if self.applied else None

    @property
    def wrong(self) -> int:
        """Misjudged mutants: forbidden ones not flagged, allowed ones flagged."""
        return self.applied - self.flagged if self.kind == "forbidden" else self.flagged


@dataclass
class OracleBenchReport:
    reference: str
    target: str
    seed: int
    budget: str
    operators: dict[str, OperatorTally]
    cases: int = 0
    datasets: int = 0
    pairs: int = 0  # matching pairs the operators were applied to
    skipped_large: int = 0  # cases not judged: an engine touched more than MAX_SAMPLES samples
    derived_cases: int = 0  # --wrap: select-k and sort wrappers of matching queries
    derived_verdicts: Counter[str] = field(default_factory=Counter)
    real_verdicts: Counter[str] = field(default_factory=Counter)
    checks: int = 0  # mutants judged
    check_seconds: float = 0.0
    wall_seconds: float = 0.0
    operand_resolver: bool = False
    interrupted: bool = False
    oracle_commit: str | None = None
    mutants: Any = field(default_factory=hashlib.sha256, repr=False)  # digest of every mutant judged

    @property
    def pairs_per_second(self) -> float:
        return self.checks / self.check_seconds if self.check_seconds > 0 else 0.0

    def totals(self) -> dict[str, dict[str, int]]:
        out = {k: {"applied": 0, "flagged": 0} for k in ("forbidden", "allowed")}
        for t in self.operators.values():
            out[t.kind]["applied"] += t.applied
            out[t.kind]["flagged"] += t.flagged
        return out

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "operators": {n: {"kind": t.kind, "applied": t.applied, "flagged": t.flagged}
                          for n, t in self.operators.items()},
            "totals": self.totals(),
            "reference": self.reference,
            "target": self.target,
            "seed": self.seed,
            "budget": self.budget,
            "cases": self.cases,
            "datasets": self.datasets,
            "pairs": self.pairs,
            "skipped_large": self.skipped_large,
            "real_verdicts": dict(sorted(self.real_verdicts.items())),
            "derived_cases": self.derived_cases,
            "derived_verdicts": dict(sorted(self.derived_verdicts.items())),
            "judging": {"checks": self.checks, "seconds": round(self.check_seconds, 3),
                        "pairs_per_second": round(self.pairs_per_second, 1)},
            "wall_seconds": round(self.wall_seconds, 2),
            "operand_resolver": self.operand_resolver,
            "interrupted": self.interrupted,
            "oracle_commit": self.oracle_commit,
            "mutants_sha256": self.mutants.hexdigest(),
            "misses": {n: t.misses for n, t in self.operators.items() if t.misses},
        }


def new_tallies(operators: Sequence[Operator] = OPERATORS) -> dict[str, OperatorTally]:
    return {o.name: OperatorTally(o.kind) for o in operators}


# --------------------------------------------------------------------------- judging


Check = Callable[[Case, Result, Result, "OperandResolver | None"], Any]
"""``(case, ref, tgt, operand) -> Verdict``."""


def accepts_operand(oracle: Any) -> bool:
    """Does ``oracle.check`` take an ``operand`` resolver (the select-k aware comparator)?"""
    try:
        return "operand" in inspect.signature(oracle.check).parameters
    except (AttributeError, TypeError, ValueError):
        return False


def make_check(oracle: Any) -> Check:
    """The pipeline's call (``check(case, ref, tgt, detail=False)``), with the operand
    resolver when the oracle takes one."""
    if accepts_operand(oracle):
        return lambda case, ref, tgt, operand: oracle.check(case, ref, tgt, detail=False, operand=operand)
    return lambda case, ref, tgt, operand: oracle.check(case, ref, tgt, detail=False)


def mutant_rng(seed: int, key: str, operator: str) -> random.Random:
    """The random choices of one operator on one pair: from the run seed, the pair's place
    in the run and the operator (string seeds are hashed with SHA-512: stable across runs)."""
    return random.Random(f"promfuzz-oracle-bench:{seed}:{key}:{operator}")


def judge_mutants(
    pair: Pair,
    key: str,
    seed: int,
    check: Check,
    tallies: dict[str, OperatorTally],
    operators: Sequence[Operator] = OPERATORS,
    clock: list[float] | None = None,
    should_stop: Callable[[], bool] | None = None,
    digest: Any = None,
) -> int:
    """Apply every operator to ``pair`` and judge each mutant; returns mutants judged.
    ``clock`` (``[seconds]``) accumulates the time spent inside ``check``; ``should_stop``
    is asked before each operator (a large answer takes a while through every one);
    ``digest`` (a hashlib object) takes the query, operator and change of every mutant."""
    n = 0
    for op in operators:
        if should_stop is not None and should_stop():
            break
        m = op.apply(pair, mutant_rng(seed, key, op.name))
        if m is None:
            continue
        if digest is not None:
            digest.update(f"{key}\0{pair.case.query}\0{op.name}\0{m.note}\n".encode())
        t0 = time.perf_counter()
        verdict = check(pair.case, m.ref, m.tgt, pair.operand)
        if clock is not None:
            clock[0] += time.perf_counter() - t0
        flagged = verdict.kind not in NOT_FLAGGED
        tally = tallies[op.name]
        tally.applied += 1
        tally.flagged += flagged
        n += 1
        if flagged != (op.kind == "forbidden") and len(tally.misses) < MISS_EXAMPLES:
            tally.misses.append({
                "query": pair.case.query,
                "params": pair.case.params.to_json_obj(),
                "verdict": verdict.kind,
                "rules": list(getattr(verdict, "rules", ()) or ()),
                "mutation": m.note,
            })
    return n


def bench_pairs(pairs: Iterable[Pair], oracle: Any, seed: int = 0,
                operators: Sequence[Operator] = OPERATORS) -> dict[str, OperatorTally]:
    """The per-operator tallies of ``pairs`` (already judged equal) under ``oracle``: the
    benchmark without engines, for hand-made pairs and other comparators."""
    tallies = new_tallies(operators)
    check = make_check(oracle)
    for i, p in enumerate(pairs):
        judge_mutants(p, str(i), seed, check, tallies, operators)
    return tallies


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class OracleBenchConfig:
    reference: str = "prometheus"
    target: str = "mqe"
    budget: Budget = field(default_factory=lambda: Budget(seconds=60.0))
    seed: int = 1
    queries_per_dataset: int = 1000
    source: str = "grammar"
    wrap: bool = False  # also judge select-k and sort wrappers of matching queries (see wrapped_queries)

    def __post_init__(self) -> None:
        if self.queries_per_dataset < 1:
            raise ConfigError("queries per dataset must be >= 1")


class _OperandCache:
    """Answers of the reference engine to subexpressions, for the dataset it holds now."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.answers: dict[tuple[str, EvalParams], Result | None] = {}

    def resolver(self, params: EvalParams) -> OperandResolver:
        def resolve(text: str) -> Result | None:
            key = (text, params)
            if key not in self.answers:
                try:
                    self.answers[key] = self.engine.query(text, params)
                except PromfuzzError:
                    self.answers[key] = None
            return self.answers[key]

        return resolve


def wrapped_queries(pair: Pair) -> list[str]:
    """``--wrap``: for a matching pair whose answer has two or more series, the query inside
    ``topk``, ``bottomk`` and ``limitk`` (k = half the series) and, for an instant query,
    ``sort_desc`` and ``sort_by_label`` (on the first label name present). Campaign queries
    rarely end in these, so the pick and order operators rarely apply without them."""
    r = pair.ref
    if not r.ok or r.value_type not in ("vector", "matrix") or len(r.series) < 2:
        return []
    q = f"({pair.case.query}\n)"  # the newline ends a trailing comment
    k = max(1, len(r.series) // 2)
    out = [f"topk({k}, {q})", f"bottomk({k}, {q})", f"limitk({k}, {q})"]
    if not pair.case.params.is_range:
        out.append(f"sort_desc({q})")
        names = sorted({n for s in r.series for n, _ in s.labels if n != "__name__"})
        if names:
            out.append(f'sort_by_label({q}, "{names[0]}")')
    return out


def fetch_answers(ref: Any, tgt: Any, items: Sequence[tuple[str, EvalParams]], max_samples: int = MAX_SAMPLES
                  ) -> tuple[list[RawAnswer], list[RawAnswer], list[bool], list[bool]]:
    """Both engines' answers to ``items`` as the pipeline asks for them: digests first
    (equal digests are identical answers), then the reference's bodies (every kept case is
    mutated from them) and the target's where the digests differ. Returns (reference
    answers, target answers, identical?, too large to fetch?) per item."""
    from promfuzz.pipeline import query_many_raw

    rd = query_many_raw(ref, items, bodies=False)
    td = query_many_raw(tgt, items, bodies=False)
    n = len(items)
    large = [max(rd[k].stats.samples, td[k].stats.samples) > max_samples for k in range(n)]
    same = [rd[k].digest is not None and rd[k].digest == td[k].digest for k in range(n)]
    for answers, engine, wanted in ((rd, ref, [True] * n), (td, tgt, [not x for x in same])):
        again = [k for k in range(n) if wanted[k] and not large[k] and answers[k].bodiless]
        if again:
            for k, a in zip(again, query_many_raw(engine, [items[k] for k in again]), strict=True):
                answers[k] = a
    return rd, td, same, large


def oracle_commit() -> str | None:
    """The last commit that touched promfuzz/oracles (``+dirty`` with local changes)."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h", "--", "promfuzz/oracles"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "promfuzz/oracles"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (out + ("+dirty" if dirty else "")) or None


def run_oracle_bench(
    cfg: OracleBenchConfig,
    *,
    engine_factory: Callable[[str], Any] | None = None,
    oracle: Any = None,
    operators: Sequence[Operator] = OPERATORS,
    log: Callable[[str], None] | None = None,
) -> OracleBenchReport:
    """Run the benchmark (see the module doc). ``engine_factory(name)`` opens an engine
    (default: the registry's real hosts); ``oracle`` replaces the pipeline's oracle."""
    from promfuzz.plan import dataset_seed
    from promfuzz.engines.registry import open_engine
    from promfuzz.oracles import DifferentialOracle, load_rules
    from promfuzz.pipeline import engine_versions_for_rules, generate_dataset_cases

    say = log or (lambda s: None)
    opener = engine_factory or open_engine
    report = OracleBenchReport(cfg.reference, cfg.target, cfg.seed, str(cfg.budget), new_tallies(operators),
                               oracle_commit=oracle_commit())
    t_start = time.monotonic()
    deadline = t_start + cfg.budget.seconds if cfg.budget.seconds is not None else None
    engines: list[Any] = []
    try:
        ref = opener(cfg.reference)
        engines.append(ref)
        if cfg.target == cfg.reference and engine_factory is None:
            tgt = open_engine(cfg.target, name=f"{cfg.target}#2")  # a second instance, as the pipeline does
        else:
            tgt = opener(cfg.target)
        engines.append(tgt)
        if oracle is None:
            versions = {e.name: e.versions() for e in engines}
            oracle = DifferentialOracle(rules=load_rules(), versions=engine_versions_for_rules(versions))
        check = make_check(oracle)
        report.operand_resolver = accepts_operand(oracle)
        clock = [0.0]
        last_log = time.monotonic()

        def out_of_time() -> bool:
            return deadline is not None and time.monotonic() >= deadline

        def out_of_budget() -> bool:
            if deadline is not None:
                return time.monotonic() >= deadline
            return cfg.budget.cases is not None and report.cases >= cfg.budget.cases

        def judge_chunk(keyed: Sequence[tuple[str, str, EvalParams]], counted: bool) -> list[tuple[str, Pair]]:
            """Ask both engines, judge, mutate the matching pairs; returns them. ``counted``:
            campaign cases (the budget counts them), else derived ones."""
            ref_raw, tgt_raw, same, large = fetch_answers(ref, tgt, [(q, p) for _, q, p in keyed])
            matched = []
            for k, (key, query, params) in enumerate(keyed):
                if out_of_budget():
                    break
                if counted:
                    report.cases += 1
                else:
                    report.derived_cases += 1
                if large[k]:
                    report.skipped_large += 1
                    continue
                case = Case(ds, query, params)
                ref_r = ref_raw[k].result()
                operand = operands.resolver(params)
                if same[k]:
                    # Identical answers (the pipeline's match without a check).
                    tgt_r = replace(ref_r, engine=tgt.name, stats=tgt_raw[k].stats)
                    kind = "match"
                else:
                    tgt_r = tgt_raw[k].result()
                    kind = check(case, ref_r, tgt_r, operand).kind
                (report.real_verdicts if counted else report.derived_verdicts)[kind] += 1
                if kind != "match":
                    continue
                report.pairs += 1
                pair = Pair(case, ref_r, tgt_r, operand)
                report.checks += judge_mutants(pair, key, cfg.seed, check, report.operators, operators, clock,
                                               out_of_time, report.mutants)
                report.check_seconds = clock[0]
                matched.append((key, pair))
            return matched

        d = 0
        while not out_of_budget():
            n_q = cfg.queries_per_dataset
            if cfg.budget.cases is not None:
                n_q = min(n_q, cfg.budget.cases - report.cases)
            ds, cases = generate_dataset_cases(dataset_seed(cfg.seed, d), n_q, cfg.source)
            ref.load(ds)
            tgt.load(ds)
            operands = _OperandCache(ref)
            report.datasets += 1
            for c0 in range(0, len(cases), CHUNK):
                if out_of_budget():
                    break
                keyed = [(f"{d}:{c0 + k}", gc.query, gc.params) for k, gc in enumerate(cases[c0:c0 + CHUNK])]
                matched = judge_chunk(keyed, counted=True)
                if cfg.wrap and matched and not out_of_budget():
                    judge_chunk([(f"{key}:w{j}", q, p.case.params)
                                 for key, p in matched for j, q in enumerate(wrapped_queries(p))], counted=False)
                if time.monotonic() - last_log >= 5:
                    last_log = time.monotonic()
                    say(_progress(report, t_start, d))
            say(_progress(report, t_start, d, done=True))
            d += 1
    except KeyboardInterrupt:
        report.interrupted = True
        say("interrupted: reporting what was measured")
    finally:
        for e in engines:
            try:
                e.close()
            except Exception:  # noqa: BLE001 - closing must not mask the real error
                pass
        report.wall_seconds = time.monotonic() - t_start
    return report


def _progress(r: OracleBenchReport, t0: float, d: int, done: bool = False) -> str:
    what = "done" if done else "running"
    return (f"dataset {d} {what}: {r.cases} cases, {r.pairs} matching pairs, {r.checks} mutants judged, "
            f"{time.monotonic() - t0:.0f}s")


# --------------------------------------------------------------------------- output


def _pct(t: OperatorTally) -> str:
    return "n/a" if t.share is None else f"{t.share * 100:.1f}%"


def _counts(c: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"


def format_report(r: OracleBenchReport) -> str:
    """The table: per operator kind, applied, flagged, share flagged (forbidden: want
    100%; allowed: want 0%); ``<<`` marks an operator off its target."""
    lines = [
        f"oracle fault detection: {r.reference} vs {r.target}, seed {r.seed}, budget {r.budget}"
        + (" (interrupted)" if r.interrupted else ""),
        f"{r.cases} cases on {r.datasets} dataset(s), {r.pairs} matching pairs, "
        f"{r.skipped_large} skipped (over {MAX_SAMPLES:,} samples) (verdicts: {_counts(r.real_verdicts)})",
    ]
    if r.derived_cases:
        lines.append(f"--wrap: {r.derived_cases} derived select-k/sort cases (verdicts: {_counts(r.derived_verdicts)}), "
                     f"their matching pairs included above")
    lines += [
        f"oracle commit {r.oracle_commit or 'unknown'}, operand resolver {'on' if r.operand_resolver else 'off'}",
        "",
    ]
    width = max([len(n) for n in r.operators] + [len("operator")])
    lines.append(f"{'operator':<{width}}  {'kind':<9}  {'applied':>8}  {'flagged':>8}  {'share':>7}")
    for kind in ("forbidden", "allowed"):
        for name, t in r.operators.items():
            if t.kind != kind:
                continue
            off = t.applied and t.wrong
            lines.append(f"{name:<{width}}  {t.kind:<9}  {t.applied:>8}  {t.flagged:>8}  {_pct(t):>7}"
                         + ("  <<" if off else ""))
    lines.append("")
    for kind, want in (("forbidden", "100%"), ("allowed", "0%")):
        tot = r.totals()[kind]
        share = f"{tot['flagged'] / tot['applied'] * 100:.1f}%" if tot["applied"] else "n/a"
        lines.append(f"{'total ' + kind:<{width}}  {'':<9}  {tot['applied']:>8}  {tot['flagged']:>8}  {share:>7}"
                     f"  (want {want})")
    lines.append(
        f"judging: {r.checks} mutants in {r.check_seconds:.2f}s inside DifferentialOracle.check = "
        f"{r.pairs_per_second:,.0f} pairs/s; wall {r.wall_seconds:.1f}s"
    )
    examples = [(n, t.misses[0]) for n, t in r.operators.items() if t.misses]
    if examples:
        lines += ["", "misjudged (first example per operator):"]
        for n, m in examples:
            q = m["query"].replace("\n", " ")
            q = q if len(q) <= 100 else q[:97] + "..."
            rules = f" by {', '.join(m['rules'])}" if m["rules"] else ""
            lines.append(f"  {n}: {m['verdict']}{rules}: {m['mutation'][:120]}")
            lines.append(f"      query {q!r} {m['params']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from promfuzz.plan import DEFAULT_QUERIES_PER_DATASET

    p = argparse.ArgumentParser(
        prog="promfuzz bench oracle",
        description="Oracle fault detection: mutate real matching answer pairs and count what the "
                    "differential oracle flags (forbidden mutations: want 100%%; allowed: want 0%%).",
    )
    p.add_argument("--reference", default="prometheus", metavar="ENGINE", help="reference engine (default: prometheus)")
    p.add_argument("--target", default="mqe", metavar="ENGINE", help="engine under test (default: mqe)")
    p.add_argument("--budget", default="60s", help="wall time (60s, 2m) or a case count (5000); default 60s")
    p.add_argument("--seed", type=int, default=1, help="run seed (default 1): same seed, same pairs and mutants")
    p.add_argument("--queries-per-dataset", type=int, default=DEFAULT_QUERIES_PER_DATASET,
                   help=f"queries per generated dataset, as in a campaign (default {DEFAULT_QUERIES_PER_DATASET})")
    p.add_argument("--source", choices=("grammar", "upstream", "mixed"), default="grammar",
                   help="query source, as in a campaign (default: grammar)")
    p.add_argument("--wrap", action="store_true",
                   help="also judge topk/bottomk/limitk/sort_desc/sort_by_label wrappers of matching queries "
                        "(derived cases: the pick and order operators rarely apply to campaign queries)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the figures as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    cfg = OracleBenchConfig(
        reference=args.reference, target=args.target, budget=parse_budget(args.budget), seed=args.seed,
        queries_per_dataset=args.queries_per_dataset, source=args.source, wrap=args.wrap,
    )

    def log(s: str) -> None:
        if not args.quiet:
            print(s, file=sys.stderr, flush=True)

    report = run_oracle_bench(cfg, log=log)
    print(format_report(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json_obj(), indent=1) + "\n", encoding="utf-8")
    return 130 if report.interrupted else 0


if __name__ == "__main__":
    raise SystemExit(main())
