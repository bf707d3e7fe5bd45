"""The worker side of a campaign: generate, evaluate, judge, shrink.

A :class:`Pipeline` owns its engines (one reference, one or more targets). For each
dataset index assigned to it, it generates the dataset and its queries from the dataset's
seed, loads the dataset once into every engine, runs all queries per engine in batches, and
judges every (reference, target) pair with the configured oracles. The first hit of each
signature is shrunk (the engines are then reloaded with the campaign dataset); later hits
of the same signature only count occurrences.

Events it yields (the campaign parent consumes them):
``("versions", {engine: versions})``, ``("progress", RunStats)``, ``("dataset_done", d)``,
``("finding", Finding, StoredCase | None)``, ``("occurrence", signature_key)``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promfuzz.engines.base import RawAnswer
from promfuzz.errors import EngineError
from promfuzz.model import (
    Case,
    Dataset,
    EvalParams,
    Histogram,
    Result,
    ResultHistogram,
    encode_float,
    labels_str,
)
from promfuzz.oracles.verdict import Verdict
from promfuzz.reports.records import Finding, ResultView, RunStats, SeriesView

if TYPE_CHECKING:
    from promfuzz.corpus.store import CorpusStore
    from promfuzz.engines.base import Engine
    from promfuzz.plan import CampaignConfig

Event = tuple[Any, ...]

METAMORPHIC_EVERY = 10
"""Metamorphic oracles issue several queries per case one at a time, so a campaign runs
them on every 10th case of each dataset (on each target engine), not on all."""


PIPELINE_CHUNK = 100
"""Queries per chunk when the reference and the targets answer side by side (see
:meth:`Pipeline._answers`)."""

SHRUNK_KINDS = ("divergence", "engine_failure")
"""Verdicts whose first case is shrunk; ``expected`` and ``unsupported`` hits are already
explained by a rule or the engine's own words, so shrinking them would only cost time."""


def finding_key(verdict: Verdict) -> str:
    """How hits group into findings: by signature; hits a known-difference rule explains
    by rule, target *and* shape (the signature: category, features, data aspect, message),
    ``expected-<rule>-<target>-<10 hex>``, so a second, different difference under one
    rule is a finding of its own instead of one more occurrence of the first."""
    assert verdict.signature is not None
    if verdict.kind == "expected" and verdict.rule:
        rule, target = ("".join(c if c.isalnum() or c in "_." else "_" for c in text)
                        for text in (verdict.rule, verdict.signature.target))
        return f"expected-{rule}-{target}-{verdict.signature.key().rsplit('-', 1)[-1]}"
    return verdict.signature.key()


def engine_versions_for_rules(versions: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The version a known-difference rule's range is checked against, per engine: the
    engine's own module (Mimir for mqe, promql-engine for thanos, prometheus otherwise)."""
    out: dict[str, str] = {}
    for name, mods in versions.items():
        pick = ""
        for key in ("mimir", "promql-engine", "prometheus"):
            for mod, ver in mods.items():
                if mod.rstrip("/").endswith(key) and not pick:
                    pick = ver
        out[name] = pick or next(iter(mods.values()), "")
    return out


@dataclass(frozen=True)
class GeneratedCase:
    query: str
    params: EvalParams
    features: frozenset[str]
    invalid: str | None


@dataclass
class StoredCase:
    """What the parent needs to write one corpus case (picklable across processes)."""

    case: Case
    expected: Result | None
    verdict: dict[str, Any]
    shrink: dict[str, Any] = field(default_factory=dict)
    original_query: str = ""


def generate_dataset_cases(seed: int, n: int, source: str = "grammar",
                           exclude: frozenset[str] = frozenset()) -> tuple[Dataset, list[GeneratedCase]]:
    """Dataset number ``seed`` and ``n`` queries with their parameters: a pure function.

    ``source``: ``grammar`` (the query generator), ``upstream`` (upstream promqltest
    queries mutated onto the dataset), ``mixed`` (half each). The dataset is the same for
    every source."""
    from promfuzz.promql import features

    config = None
    if exclude:  # what one side's parser cannot parse (generators/parsers.py): not generated
        from dataclasses import replace as dc_replace

        from promfuzz.generators.cases import CaseConfig

        base = CaseConfig()
        tops = tuple((t, w) for t, w in base.query.top_types if f"top:{t}" not in exclude)
        config = dc_replace(base, query=dc_replace(base.query, exclude=base.query.exclude | exclude, top_types=tops))
    if source == "grammar":
        from promfuzz.generators.cases import generate_dataset_with_queries

        batch = generate_dataset_with_queries(seed, n, config)
    elif source == "upstream":
        from promfuzz.generators.mutate import generate_dataset_with_mutated_queries

        batch = generate_dataset_with_mutated_queries(seed, n)
    elif source == "mixed":
        from promfuzz.generators.mutate import generate_dataset_with_mixed_queries

        batch = generate_dataset_with_mixed_queries(seed, n, config)
    else:
        raise ValueError(f"unknown query source {source!r}")
    out = [
        GeneratedCase(q.text, p, features(q.node), q.invalid)
        for q, p in zip(batch.queries, batch.params, strict=True)
    ]
    return batch.dataset, out


def _takes_lookback(e: Any) -> bool:
    """The engine can run under another lookback: a host family with the option, and a
    spec that does not set the lookback itself."""
    spec = getattr(e, "spec", None)
    fam = getattr(spec, "family_def", None)
    return (spec is not None and fam is not None and fam.kind == "host" and fam.option("lookback") is not None
            and "lookback" not in spec.given)


def _value_text(v: float | ResultHistogram | Histogram) -> str:
    if isinstance(v, ResultHistogram):
        return f"{{count:{encode_float(v.count)} sum:{encode_float(v.sum)} buckets:{len(v.buckets)}}}"
    if isinstance(v, Histogram):
        return f"{{count:{encode_float(v.count)} sum:{encode_float(v.sum)}}}"
    return encode_float(v)


def case_hash(dataset_fp: str, query: str, params: EvalParams) -> int:
    """A 64-bit hash of one case (dataset fingerprint, query text, parameters)."""
    text = f"{dataset_fp}|{query}|{sorted(params.to_json_obj().items())}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def query_many_raw(
    engine: Engine, items: Sequence[tuple[str, EvalParams]], *, bodies: bool = True
) -> list[RawAnswer]:
    """Batched answers, decoded lazily where the engine supports it; with ``bodies=False``
    an engine may send digests only (see HostEngine.query_many_raw)."""
    fn = getattr(engine, "query_many_raw", None)
    if fn is not None:
        return list(fn(items, bodies=bodies))
    return [RawAnswer.of(r) for r in engine.query_many(items)]


def result_view(r: Result) -> ResultView:
    return ResultView(
        engine=r.engine,
        outcome=r.outcome,
        value_type=r.value_type,
        series=[SeriesView(labels_str(s.labels), [(p.t, _value_text(p.v)) for p in s.points]) for s in r.series],
        scalar=_value_text(r.scalar.v) if r.scalar is not None else (r.string if r.string is not None else None),
        error=f"{r.error.error_type}: {r.error.message}" if r.error else None,
        warnings=list(r.warnings),
        infos=list(r.infos),
    )


class Pipeline:
    """Engines plus oracles for one worker process."""

    def __init__(self, cfg: CampaignConfig, engine_factory: Callable[[str], Engine] | None = None) -> None:
        from promfuzz.engines.registry import open_engine
        from promfuzz.oracles import DifferentialOracle, load_rules

        self.cfg = cfg
        self.deadline: float | None = None
        """``time.monotonic()`` at which a time-budgeted campaign ends (set by its worker):
        a finding after it is stored unshrunk, one before it shrinks at most until then."""
        self.reference = (engine_factory or open_engine)(cfg.reference)
        self.targets = [self._open_target(t, engine_factory) for t in cfg.targets]
        versions = {e.name: e.versions() for e in [self.reference, *self.targets]}
        self.versions = versions
        self.differential = DifferentialOracle(rules=load_rules(), versions=engine_versions_for_rules(versions))
        self.performance = None
        if "performance" in cfg.oracles:
            from promfuzz.oracles import PerformanceConfig, PerformanceOracle

            self.performance = PerformanceOracle(PerformanceConfig(enabled=True))
        self.metamorphic: list[Any] = []
        if "metamorphic" in cfg.oracles:
            from promfuzz.oracles import METAMORPHIC_ORACLES

            self.metamorphic = [cls() for _, cls in sorted(METAMORPHIC_ORACLES.items())]
        self.seen: set[str] = set()
        self._ref_fp: str | None = None  # the dataset the reference holds, when known
        self._factory = engine_factory
        # Engines per lookback delta (None: the engines as configured), opened on first use.
        self._pools: dict[int | None, tuple[Engine, list[Engine]]] = {None: (self.reference, self.targets)}
        self._vary_lookback = cfg.vary_lookback and all(_takes_lookback(e) for e in [self.reference, *self.targets])
        self._explainer: Any = None
        self.left_out: dict[str, str] = {}
        """What the generator leaves out because one engine's parser cannot parse it
        (feature -> why); empty when not parser-aware (promfuzz/generators/parsers.py)."""
        if cfg.parser_aware and cfg.source in ("grammar", "mixed"):
            from promfuzz.generators.parsers import generation_exclusions

            self.left_out = generation_exclusions([self.reference, *self.targets])

    def _open_target(self, name: str, factory: Callable[[str], Engine] | None) -> Engine:
        """A target named like the reference (a null differential, e.g. prometheus vs
        prometheus) is a second, independent instance (own process) named ``<name>#2``."""
        from promfuzz.engines.registry import open_engine

        if factory is not None:
            return factory(name)
        if name == self.cfg.reference:
            return open_engine(name, name=f"{name}#2")
        return open_engine(name)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._explainer is not None:
            self._explainer.close()
        for ref, targets in self._pools.values():
            for e in [ref, *targets]:
                try:
                    e.close()
                except Exception:  # noqa: BLE001 - closing must not mask the real error
                    pass

    def _use_lookback(self, lookback: str | None) -> int | None:
        """Make the engines of lookback ``lookback`` current (both sides; opened once per
        worker, one host process each, named like the campaign's engines); the lookback in
        ms to stamp on the cases' parameters (None: the engines' own, 5m)."""
        from promfuzz.engines.spec import LOOKBACK, parse_duration_ms

        ms = parse_duration_ms(lookback) if lookback is not None and self._vary_lookback else None
        if ms is not None and ms == parse_duration_ms(LOOKBACK.default):
            ms = None
        if ms not in self._pools:
            from promfuzz.engines.registry import open_engine, spec_with_lookback

            def sibling(e: Engine) -> Engine:
                spec = spec_with_lookback(e.spec.name, ms)  # type: ignore[attr-defined]
                return self._factory(spec) if self._factory is not None else open_engine(spec, name=e.name)

            base_ref, base_targets = self._pools[None]
            self._pools[ms] = (sibling(base_ref), [sibling(t) for t in base_targets])
        self.reference, self.targets = self._pools[ms]
        return ms

    # ---------------------------------------------------------------- the loop
    def run_worker(self, worker: int, skip: frozenset[int], should_stop: Callable[[], bool]) -> Iterator[Event]:
        from promfuzz.plan import dataset_seed, plan_cases, shard_indices

        yield ("versions", self.versions)
        if self.left_out:
            yield ("left_out", dict(self.left_out))
        n_ds, last_q = plan_cases(self.cfg)
        for k, d in shard_indices(self.cfg.shard, worker, self.cfg.workers, n_ds):
            if should_stop():
                return
            if d in skip:
                continue
            n_q = last_q if (n_ds is not None and k == n_ds - 1 and last_q is not None) else self.cfg.queries_per_dataset
            try:
                yield from self.run_dataset(dataset_seed(self.cfg.seed, d), n_q)
            except EngineError as e:  # a load that failed (or was not verified): skip the dataset
                yield ("dataset_error", d, f"load failed: {e}")
                continue
            except Exception as e:  # noqa: BLE001 - one bad dataset must not end the worker
                import traceback

                yield ("dataset_error", d, f"{type(e).__name__}: {e}\n{traceback.format_exc()[-3000:]}")
                continue
            yield ("dataset_done", d)

    def dataset_lookback(self, seed: int) -> str | None:
        from promfuzz.plan import dataset_lookback

        return dataset_lookback(seed) if self._vary_lookback else None

    def run_dataset(self, seed: int, n_queries: int) -> Iterator[Event]:
        t0 = time.monotonic()
        cpu0 = time.process_time()
        lookback_ms = self._use_lookback(self.dataset_lookback(seed))
        ds, cases = generate_dataset_cases(seed, n_queries, self.cfg.source, exclude=frozenset(self.left_out))
        if lookback_ms is not None:
            cases = [GeneratedCase(c.query, c.params.with_lookback(lookback_ms), c.features, c.invalid) for c in cases]
        from promfuzz.engines.profiles import carried

        ds = carried(ds, self.targets)  # what every target can store (VictoriaMetrics: no NaN)
        stats = RunStats(datasets=1)
        ds_fp = ds.fingerprint()
        engines = [self.reference, *self.targets]
        self._ref_fp = None
        for e in engines:
            e.load(ds)
        self._ref_fp = ds_fp
        items = [(c.query, c.params) for c in cases]
        answers, waits = self._answers(items)
        for e in engines:
            # Inside the engine: hostStats engineNs (creating and executing the query); the
            # host's own work (parameters, JSON encoding, HTTP) is suite time.
            engine_s = sum(a.stats.engine_ns or a.stats.wall_ns for a in answers[e.name]) / 1e9
            stats.engine_seconds[e.name] = stats.engine_seconds.get(e.name, 0.0) + engine_s
            stats.suite_seconds["host_overhead"] = (
                stats.suite_seconds.get("host_overhead", 0.0) + max(0.0, waits[e.name] - engine_s)
            )
        to_shrink: list[tuple[Case, Verdict, Result, Result, str]] = []
        for i, gc in enumerate(cases):
            stats.cases += 1
            stats.add_case_hash(case_hash(ds_fp, gc.query, gc.params))
            stats.features.update(gc.features)
            if gc.invalid:
                stats.invalid_queries += 1
            case = Case(ds, gc.query, gc.params)
            ref_a = answers[self.reference.name][i]
            for tgt_engine in self.targets:
                tgt_a = answers[tgt_engine.name][i]
                if ref_a.digest is not None and ref_a.digest == tgt_a.digest and self.performance is None:
                    # Equal digests, identical answers: nothing any comparison rule could flag.
                    verdicts = [Verdict.match(self.differential.name)]
                else:
                    tgt_r = tgt_a.result()
                    if tgt_r.error is not None and tgt_r.error.error_type == "target_unavailable":
                        # No answer at all (down, unreachable, not an API): counted, never a finding.
                        stats.verdicts["target_unavailable"] += 1
                        continue
                    verdicts = self._judge(case, ref_a.result(), tgt_r)
                if self.metamorphic and i % METAMORPHIC_EVERY == 0:
                    verdicts += [m.check(tgt_engine, case) for m in self.metamorphic]
                for verdict in verdicts:
                    stats.verdicts[verdict.kind] += 1
                    if verdict.signature is None or verdict.kind in ("match", "not_applicable"):
                        continue
                    key = finding_key(verdict)
                    if key in self.seen:
                        yield ("occurrence", key)
                        continue
                    self.seen.add(key)
                    to_shrink.append((case, verdict, ref_a.result(), tgt_a.result(), tgt_engine.name))
        stats.wall_seconds = time.monotonic() - t0
        stats.suite_seconds["python_cpu"] = time.process_time() - cpu0
        yield ("progress", stats)
        for case, verdict, ref, tgt, tname in to_shrink:
            yield self._finding(case, verdict, ref, tgt, tname)

    def _answers(
        self, items: Sequence[tuple[str, EvalParams]]
    ) -> tuple[dict[str, list[RawAnswer]], dict[str, float]]:
        """Every engine's answers to ``items``, by engine name, and the seconds the worker
        waited on each engine's host (batch round trips less the worker's own CPU time
        in them, which counts as Python CPU).

        First every engine answers with digests only (hosts hash the values and never
        encode them as JSON): the reference chunk by chunk in a thread of its own while
        the targets answer the chunks the reference has finished, so separate host
        processes work at the same time (engines sharing one process, e.g. ``mqe`` and
        ``mimir-prometheus``, take turns). Then only the queries whose digests differ
        are asked again with bodies, from every engine that sent a digest only; equal
        digests are judged equal without a body. The performance oracle needs every
        result, so with it every answer comes with its body at once."""
        ref = self.reference
        bodies = self.performance is not None
        chunks = [items[i : i + PIPELINE_CHUNK] for i in range(0, len(items), PIPELINE_CHUNK)]
        ref_process = getattr(ref, "process", None)
        overlap = len(chunks) > 1 and all(
            getattr(t, "process", None) is not ref_process or ref_process is None for t in self.targets
        )
        ref_chunks: list[list[RawAnswer] | None] = [None] * len(chunks)
        ready = [threading.Event() for _ in chunks]
        failure: list[BaseException] = []
        waits = dict.fromkeys([ref.name, *(t.name for t in self.targets)], 0.0)

        def ask(engine: Engine, batch: Sequence[tuple[str, EvalParams]], with_bodies: bool) -> list[RawAnswer]:
            t, c = time.perf_counter(), time.thread_time()
            try:
                return query_many_raw(engine, batch, bodies=with_bodies)
            finally:
                waits[engine.name] += max(0.0, (time.perf_counter() - t) - (time.thread_time() - c))

        def run_reference() -> None:
            try:
                for k, chunk in enumerate(chunks):
                    ref_chunks[k] = ask(ref, chunk, bodies)
                    ready[k].set()
            except BaseException as e:  # noqa: BLE001 - re-raised in the worker's thread
                failure.append(e)
            finally:
                for ev in ready:
                    ev.set()

        if overlap:
            thread = threading.Thread(target=run_reference, name="reference-batches", daemon=True)
            thread.start()
        else:
            run_reference()
        out: dict[str, list[RawAnswer]] = {t.name: [] for t in self.targets}
        try:
            for k, chunk in enumerate(chunks):
                ready[k].wait()
                if ref_chunks[k] is None:
                    break
                for tgt in self.targets:
                    out[tgt.name].extend(ask(tgt, chunk, bodies))
        finally:
            if overlap:
                thread.join()
        if failure:
            raise failure[0]
        out[ref.name] = [a for ch in ref_chunks if ch is not None for a in ch]
        # Second phase: bodies for the queries whose digests differ.
        engines = [ref, *self.targets]
        differ = [
            i
            for i in range(len(items))
            if any(
                out[ref.name][i].digest is None or out[ref.name][i].digest != out[t.name][i].digest
                for t in self.targets
            )
        ]
        for e in engines:
            again = [i for i in differ if out[e.name][i].bodiless]
            if again:
                for i, a in zip(again, ask(e, [items[i] for i in again], True), strict=True):
                    out[e.name][i] = a
        return out, waits

    def _operand(self, case: Case) -> Callable[[str], Result | None]:
        """The comparator's operand resolver for ``case``: the reference's answer to a
        subexpression (asked only when a topk & co pick differs). While a dataset is judged
        the reference still holds it (all answers are fetched first); after a shrink it
        holds another, so the case's data is loaded again first."""
        def resolve(text: str) -> Result | None:
            fp = case.dataset.fingerprint()
            if self._ref_fp != fp:
                self._ref_fp = None
                self.reference.load(case.dataset)
                self._ref_fp = fp
            return self.reference.query(text, case.params)

        return resolve

    def _judge(self, case: Case, ref: Result, tgt: Result) -> list[Verdict]:
        # The diff text is built only for findings (see _finding), not for every hit.
        out = [self.differential.check(case, ref, tgt, detail=False, operand=self._operand(case))]
        if self.performance is not None:
            out.append(self.performance.check(case, ref, tgt))
        return out

    def _finding(self, case: Case, verdict: Verdict, ref: Result, tgt: Result, target_name: str) -> Event:
        shrunk_case, shrunk_info_verdict = case, verdict
        if verdict.oracle == self.differential.name:
            shrunk_info_verdict = self.differential.check(case, ref, tgt, operand=self._operand(case))  # with its diff
        shrunk_verdict = shrunk_info_verdict
        shrink_info: dict[str, Any] = {}
        ref_r, tgt_r = ref, tgt
        if self.cfg.shrink and verdict.kind in SHRUNK_KINDS:
            try:
                shrunk_case, shrunk_verdict, shrink_info, ref_r, tgt_r = self._shrink(
                    case, verdict, target_name, ref, tgt
                )
            except Exception as e:  # noqa: BLE001 - a shrinker bug must not lose the finding or the run
                import traceback

                shrink_info = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
                self._ref_fp = None
                for eng in [self.reference, *self.targets]:
                    eng.load(case.dataset)
                self._ref_fp = case.dataset.fingerprint()
        if shrunk_case.params.lookback_ms != case.params.lookback_ms:  # shrink passes rebuild the parameters
            shrunk_case = Case(shrunk_case.dataset, shrunk_case.query, shrunk_case.params.with_lookback(case.params.lookback_ms))
        explanation = self._explain(shrunk_case, target_name) if verdict.kind != "performance" else None
        sig = shrunk_verdict.signature or verdict.signature
        assert sig is not None
        key = finding_key(shrunk_verdict) if shrunk_verdict.signature is not None else finding_key(verdict)
        f = Finding(
            signature=key,
            title=sig.title,
            verdict=shrunk_verdict.kind,
            oracle=shrunk_verdict.oracle,
            category=sig.category,
            reference=self.reference.name,
            target=target_name,
            query=shrunk_case.query,
            original_query=case.query,
            params=shrunk_case.params.to_json_obj(),
            case_file=None,
            diff=shrunk_verdict.detail or verdict.detail,
            results=[result_view(ref_r), result_view(tgt_r)],
            shrink=shrink_info,
            rule=shrunk_verdict.rule,
            panic=sig.panic,
            explain=explanation,
        )
        self.seen.add(key)
        stored = StoredCase(shrunk_case, ref_r, shrunk_verdict.to_json_obj(), shrink_info, case.query)
        return ("finding", f, stored)

    def _explain(self, case: Case, target_name: str) -> dict[str, Any] | None:
        """promfuzz explain on a finding's (shrunk) case, reusing this worker's engines
        (the explainer keeps the others it opens for later findings), within
        :data:`promfuzz.explain.CAMPAIGN_SECONDS`; with only ``--triage-reference``, just
        the reference, upstream and target. None when off or not applicable (http:)."""
        if not (self.cfg.explain or self.cfg.triage_reference):
            return None
        target = next(t for t in self.targets if t.name == target_name)
        spec = getattr(target, "spec", None)
        if spec is None or spec.family_def is None or spec.family_def.kind != "host":
            return None
        from promfuzz.explain import CAMPAIGN_SECONDS, Explainer

        if self._explainer is None:
            self._explainer = Explainer(opener=self._factory, upstream=self.cfg.triage_reference or "prometheus")
        given = {}
        for e in [self.reference, *self.targets]:
            s = getattr(e, "spec", None)
            if s is not None and not e.name.endswith("#2"):
                given[s.name] = e
        self._explainer._given = given
        self._ref_fp = None  # the explainer loads the case into the engines it shares
        try:
            ex = self._explainer.explain(case, spec.name, name=target_name, seconds=CAMPAIGN_SECONDS,
                                         variants=self.cfg.explain, revisions=self.cfg.explain)
        except Exception as e:  # noqa: BLE001 - an explanation must not lose the finding
            return {"error": f"{type(e).__name__}: {e}", "label": "none", "conclusion": f"not explained: {e}"}
        return ex.to_json_obj()

    def _shrink(
        self, case: Case, verdict: Verdict, target_name: str, ref: Result, tgt: Result
    ) -> tuple[Case, Verdict, dict[str, Any], Result, Result]:
        from promfuzz.shrink import make_engine_check, shrink

        seconds = self.cfg.shrink_seconds
        if self.deadline is not None:  # a time budget bounds shrinking too (it overran by minutes)
            left = self.deadline - time.monotonic()
            if left <= 0:
                return case, verdict, {"skipped": "the campaign's time budget was over"}, ref, tgt
            seconds = min(seconds, max(1.0, left))
        target = next(t for t in self.targets if t.name == target_name)
        check = make_engine_check(self.reference, target, self.differential)
        self._ref_fp = None  # the shrinker loads candidate datasets
        res = shrink(case, check, seconds=seconds, initial=verdict)
        info = res.stats_json()
        # Results of the shrunk case, for the report and the corpus's expected output.
        self.reference.load(res.case.dataset)
        self._ref_fp = res.case.dataset.fingerprint()
        target.load(res.case.dataset)
        r2 = self.reference.query(res.case.query, res.case.params)
        t2 = target.query(res.case.query, res.case.params)
        return res.case, res.verdict, info, r2, t2


# --------------------------------------------------------------------------- parent side


PASTEABLE_CHECK_MAX_BYTES = 200_000
"""Cases larger than this (unshrunk ones, with --no-shrink) are stored without the runner
check: promqltest expands their sparse histograms into gigabytes, and nobody pastes them."""


PASTEABLE_CHECK_MAX_STEPS = 200_000
"""...and so are cases whose load block promqltest expands into more points than this (a
short text with a 1 ms load interval over an hour is millions of samples in the runner)."""


def _load_steps(case: Case) -> int:
    from promfuzz.corpus.promqltest import choose_interval, promqltest_dataset

    ds = promqltest_dataset(case.dataset)
    if not ds.series:
        return 0
    step = max(1, choose_interval(ds))
    return sum((s.samples[-1].t - s.samples[0].t) // step + 1 for s in ds.series if s.samples)


def store_finding(store: CorpusStore, stored: StoredCase, f: Finding, cfg: CampaignConfig,
                  versions: Mapping[str, Mapping[str, str]]) -> str | None:
    """Write a finding's shrunk case to the corpus; returns the .test path.

    A new case is stored only when the promqltest runner of the reference's own Prometheus
    version passes it (:func:`promfuzz.corpus.runner.check_pasteable`): the stored file is
    an expectation for that harness. Otherwise ``ValueError`` says why (the campaign keeps
    the finding and records the reason as ``not_stored``)."""
    if not store.has_signature(f.signature):
        from promfuzz.corpus.promqltest import write_case
        from promfuzz.corpus.runner import check_pasteable

        try:
            text = write_case(stored.case, stored.expected)
        except ValueError:
            text = None  # the store writes such a case without an expectation (nothing to check)
        if text is not None and len(text) <= PASTEABLE_CHECK_MAX_BYTES and _load_steps(stored.case) <= PASTEABLE_CHECK_MAX_STEPS:
            # A case run under another lookback: the runner's test engine (5m) would not reproduce it.
            from promfuzz.engines.registry import spec_with_lookback

            why = check_pasteable(text, spec_with_lookback(f.reference, stored.case.params.lookback_ms))
            if why is not None:
                raise ValueError(why)
    outcome = store.add(
        stored.case,
        f.signature,
        expected=stored.expected,
        oracle=f.oracle,
        verdict=stored.verdict,
        engines={f.reference: dict(versions.get(f.reference, {})), f.target: dict(versions.get(f.target, {}))},
        seed=cfg.seed,
        shrink=stored.shrink,
        note=f"original query (before shrinking): {stored.original_query}" if stored.original_query else "",
    )
    return str(outcome.stored.test_path)


def grammar_coverage_summary(features: Mapping[str, int] | Counter[str]) -> dict[str, Any]:
    """Which functions, aggregations, operators and modifiers a run produced, against the table."""
    from promfuzz.promql.functions import AGGREGATIONS, BINARY_OPERATORS, FUNCTIONS

    kinds: dict[str, Sequence[str]] = {
        "functions": [f"fn:{n}" for n in sorted(FUNCTIONS)],
        "aggregations": [f"agg:{n}" for n in sorted(AGGREGATIONS)],
        "binary_operators": [f"op:{o}" for o in BINARY_OPERATORS],
        "matching": [f"match:{m}" for m in ("on", "ignoring", "group_left", "group_right", "fill", "fill_left", "fill_right")],
        "modifiers": [f"mod:{m}" for m in ("offset", "negative_offset", "@", "@start()", "@end()", "subquery",
                                             "subquery_default_step", "bool", "by", "without", "anchored",
                                             "smoothed", "duration_expr")],
    }
    out: dict[str, Any] = {"kinds": {}}
    for kind, names in kinds.items():
        reached = [n for n in names if features.get(n, 0) > 0]
        out["kinds"][kind] = {
            "reached": len(reached),
            "total": len(names),
            "missing": [n.split(":", 1)[1] for n in names if features.get(n, 0) == 0],
        }
    out["top"] = Counter(dict(features)).most_common(15)
    return out
