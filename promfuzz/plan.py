"""Campaign configuration and planning: what a run is, and which cases it holds.

Shared by the parent (:mod:`promfuzz.campaign`, which runs the loop) and the workers
(:mod:`promfuzz.pipeline`, which judge the cases): dataset ``d`` of a run has the seed
:func:`dataset_seed` ``(run seed, d)``; a shard ``i/n`` takes ``d = i, i+n, ...`` and
worker ``w`` of ``W`` every ``W``-th of those (:func:`shard_indices`); a case budget
fixes the number of datasets (:func:`plan_cases`). Neither module imports the other for
these, so they no longer import each other.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promfuzz.budget import Budget, parse_budget
from promfuzz.errors import ConfigError

STATE_FILE = "state.json"


DEFAULT_QUERIES_PER_DATASET = 1000
"""Queries per generated dataset. Generating a dataset and loading it into every engine
costs about as much as 200 queries, so 1,000 keeps the engines, not the suite, busy
(measured: 1 worker, prometheus vs mqe, 731 cases/s at 200 and 1,313 at 1,000)."""


@dataclass(frozen=True)
class CampaignConfig:
    reference: str = "auto"
    """An engine spec, or ``auto`` (resolved at construction): the Prometheus engine of
    the targets' own build (promfuzz.engines.registry.resolve_reference)."""
    targets: tuple[str, ...] = ("mqe",)
    budget: Budget = field(default_factory=lambda: Budget(seconds=120))
    seed: int = 0
    workers: int = 1
    shard: tuple[int, int] = (0, 1)
    oracles: tuple[str, ...] = ("differential",)
    corpus: Path | None = Path("corpus")
    out: Path = Path("reports/run")
    queries_per_dataset: int = DEFAULT_QUERIES_PER_DATASET
    shrink: bool = True
    shrink_seconds: float = 20.0
    run_id: str = ""
    source: str = "grammar"
    """Where queries come from: ``grammar`` (the generator), ``upstream`` (Prometheus's and
    Mimir's promqltest queries, mutated), or ``mixed`` (half each)."""
    shared_target: bool = False
    """``--shared-target``: an http: target without isolation is allowed (one dataset,
    one worker, no shrinking: nothing is ever loaded on top of another dataset)."""
    explain: bool = True
    """Run ``promfuzz explain`` on every new finding after shrinking (the target with each
    option toggled, its same-build reference, upstream Prometheus; promfuzz/explain.py) and
    store the result in the finding; ``--no-explain`` turns it off."""
    triage_reference: str | None = None
    """``--triage-reference prometheus``: the upstream engine every finding is replayed on
    and labelled against (``engine`` / ``fork-lag`` / ``both``; also without --explain)."""
    vary_lookback: bool = True
    """Each dataset runs under a lookback delta drawn from :data:`LOOKBACKS` (seeded, on both
    sides); off: every engine's own (5m)."""
    parser_aware: bool = True
    """The generator leaves out what the pair's oldest parser cannot parse (functions,
    operators, syntax; promfuzz/generators/parsers.py)."""

    def __post_init__(self) -> None:
        if self.reference == "auto":
            from promfuzz.engines.registry import resolve_campaign_reference

            object.__setattr__(self, "reference", resolve_campaign_reference(self.targets))
        from promfuzz.engines.registry import check_isolation

        check_isolation(self.targets, self.shared_target)
        from promfuzz.engines.registry import target_isolation

        deleting = [t for t in self.targets if target_isolation(t) == "delete"]
        if deleting and self.workers > 1:
            # One server for every worker, emptied before each load: two workers would
            # delete each other's datasets mid-query. Tenants and fresh servers do not share.
            import sys

            print(f"promfuzz: {deleting[0]!r} isolates datasets by deleting everything in one server: "
                  f"1 worker, not {self.workers}", file=sys.stderr)
            object.__setattr__(self, "workers", 1)
        if self.triage_reference is not None:
            from promfuzz.engines.spec import parse_spec

            spec = parse_spec(self.triage_reference)
            if spec.family_def is None or spec.family_def.kind != "host":
                raise ConfigError(f"--triage-reference {self.triage_reference!r}: expected an in-process engine such as prometheus")
            object.__setattr__(self, "triage_reference", spec.name)

    @staticmethod
    def from_args(args: argparse.Namespace) -> CampaignConfig:
        if args.resume:
            return CampaignConfig.load_state(args.resume)[0]
        try:
            i, n = (int(x) for x in args.shard.split("/"))
        except ValueError as e:
            raise ConfigError(f"--shard {args.shard!r}: expected i/n such as 0/4") from e
        if not (n >= 1 and 0 <= i < n):
            raise ConfigError(f"--shard {args.shard!r}: need 0 <= i < n")
        oracles = tuple(o.strip() for o in args.oracles.split(",") if o.strip())
        for o in oracles:
            if o not in ("differential", "metamorphic", "performance"):
                raise ConfigError(f"--oracles: unknown oracle {o!r} (differential, metamorphic, performance)")
        seed = args.seed if args.seed is not None else int(time.time()) % 1_000_000
        workers = args.workers if args.workers else (os.cpu_count() or 1)
        if workers < 1:
            raise ConfigError("--workers must be at least 1")
        if args.queries_per_dataset < 1:
            raise ConfigError("--queries-per-dataset must be at least 1")
        run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + f"-s{seed}" + (f"-shard{i}of{n}" if n > 1 else "")
        cfg = CampaignConfig(
            reference=args.reference,
            targets=tuple(args.target or ["mqe"]),
            budget=parse_budget(args.budget),
            seed=seed,
            workers=workers,
            shard=(i, n),
            oracles=oracles,
            corpus=args.corpus,
            out=args.out or Path("reports") / run_id,
            queries_per_dataset=args.queries_per_dataset,
            shrink=not args.no_shrink,
            run_id=run_id,
            source=args.source,
            shared_target=bool(getattr(args, "shared_target", False)),
            explain=not getattr(args, "no_explain", False),
            triage_reference=getattr(args, "triage_reference", None),
            vary_lookback=not getattr(args, "no_vary_lookback", False),
            parser_aware=not getattr(args, "no_parser_aware", False),
        )
        return replace(cfg, **_shared_target_overrides(args, workers))

    def to_json_obj(self) -> dict[str, Any]:
        d = asdict(self)
        d["budget"] = self.budget.to_json_obj()
        d["corpus"] = str(self.corpus) if self.corpus else None
        d["out"] = str(self.out)
        return d

    @staticmethod
    def from_json_obj(d: dict[str, Any]) -> CampaignConfig:
        d = dict(d)
        d["budget"] = Budget(**d["budget"])
        d["targets"] = tuple(d["targets"])
        d["oracles"] = tuple(d["oracles"])
        d["shard"] = tuple(d["shard"])
        d["corpus"] = Path(d["corpus"]) if d.get("corpus") else None
        d["out"] = Path(d["out"])
        d.setdefault("source", "grammar")
        return CampaignConfig(**d)

    @staticmethod
    def load_state(run_dir: Path) -> tuple[CampaignConfig, dict[str, Any]]:
        path = run_dir / STATE_FILE
        if not path.exists():
            raise ConfigError(f"{run_dir}: no {STATE_FILE}; is this a promfuzz run folder?")
        state = json.loads(path.read_text(encoding="utf-8"))
        return CampaignConfig.from_json_obj(state["config"]), state


# ----------------------------------------------------------------------------- seeds


def dataset_seed(run_seed: int, index: int) -> int:
    """The seed of dataset ``index`` of a run: independent of workers and shards."""
    h = hashlib.sha256(f"promfuzz:{run_seed}:{index}".encode()).digest()
    return int.from_bytes(h[:8], "big")


LOOKBACKS: tuple[str | None, ...] = (None, "30s", "1m", "5m", "10m")
"""The lookback deltas a campaign draws from, one per dataset (as Thanos' own engine tests
run every case under 0 = the default, 30s, 1m, 5m and 10m)."""


def dataset_lookback(seed: int) -> str | None:
    """The lookback delta of the dataset with seed ``seed`` (None: the engines' default,
    5m); a hash of its own, so the dataset and its queries do not change with it."""
    h = hashlib.sha256(f"promfuzz-lookback:{seed}".encode()).digest()
    return LOOKBACKS[h[0] % len(LOOKBACKS)]


def shard_indices(shard: tuple[int, int], worker: int, workers: int, limit: int | None) -> Iterator[tuple[int, int]]:
    """(k, d) pairs for one worker: k is the position within the shard, d the global index."""
    i, n = shard
    k = worker
    while limit is None or k < limit:
        yield k, i + k * n
        k += workers


def _shared_target_overrides(args: argparse.Namespace, workers: int) -> dict[str, Any]:
    """``--shared-target``: one dataset (a case budget of at most one dataset), one
    worker, no shrinking."""
    if not getattr(args, "shared_target", False):
        return {}
    budget = parse_budget(args.budget)
    cases = min(budget.cases or args.queries_per_dataset, args.queries_per_dataset)
    return {"workers": 1, "shrink": False, "budget": Budget(cases=cases)}


def plan_cases(cfg: CampaignConfig) -> tuple[int | None, int | None]:
    """(datasets per shard, queries on the last one) for a case budget; (None, None) for time."""
    if cfg.budget.cases is None:
        return None, None
    q = cfg.queries_per_dataset
    n_ds = math.ceil(cfg.budget.cases / q)
    last = cfg.budget.cases - (n_ds - 1) * q
    return n_ds, last
