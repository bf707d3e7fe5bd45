"""Coverage-guided fuzzing: atheris' bytes drive the same generators as campaigns.

``promfuzz atheris --reference R --target T -- [CORPUS_DIR] -runs=1000 -max_len=512`` feeds
every input through :func:`promfuzz.generators.cases.case_from_bytes`, runs the case on
both engines and judges it as campaigns and the pytest plugin do (the differential oracle
with the shipped known-difference rules, their version ranges, the operand resolver).

libFuzzer's feedback is the Python coverage of the grammar: before fuzzing,
:func:`instrument_generators` adds atheris' coverage counters to every function of
``promfuzz.generators`` and ``promfuzz.promql`` (the printer, the function table) already
imported, so an input that reaches a new production, branch or comparison of the generator
is kept in the corpus and mutated further (``--instrument all`` also instruments the oracle,
so a new kind of difference counts as new coverage; ``none`` reproduces the old blind run).
It explores the grammar, not the Go engines' code (``promfuzz run --guided`` does that).
Divergences are written like a campaign's: a report folder ``reports/atheris-<time>/`` and
the corpus. A divergence does not stop the fuzzer.

Structure hints: unless given, ``-max_len=1024 -len_control=0``. The generators read about
a byte per decision and a campaign-sized case takes a few hundred; libFuzzer's default
length control starts at 4-byte inputs and lengthens them slowly (11 bytes after 60 s), so
every case of the first minutes was a bare selector on a near-empty dataset.

No ``-dict``: the input is not text but the decisions a ``FuzzedDataProvider`` reads
(integers in ranges, fractions), so PromQL tokens as dictionary entries would only be
random decisions; libFuzzer's value-profile of the instrumented comparisons already steers
bytes toward the ranges the grammar tests.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from promfuzz.reports.records import Finding, RunStats
from promfuzz.reports.writer import summary_dict, write_report

INSTRUMENT_SCOPES = {
    "generators": ("promfuzz.generators", "promfuzz.promql"),
    "all": ("promfuzz",),
    "none": (),
}


LIBFUZZER_DEFAULTS = ("-max_len=1024", "-len_control=0")


def libfuzzer_defaults(args: list[str]) -> list[str]:
    """``args`` with the structure hints of :data:`LIBFUZZER_DEFAULTS` the user did not set."""
    given = {a.split("=", 1)[0] for a in args if a.startswith("-")}
    return [*args, *(d for d in LIBFUZZER_DEFAULTS if d.split("=", 1)[0] not in given)]


def instrument_generators(scope: str = "generators") -> int:
    """Add atheris' coverage instrumentation to the already-imported functions of the
    modules of ``scope`` (see :data:`INSTRUMENT_SCOPES`); returns how many were patched.
    Function code objects are patched in place (nested functions with them), so every
    reference to them, taken before or after, runs instrumented."""
    import gc
    import types

    import atheris

    if scope not in INSTRUMENT_SCOPES:
        raise ValueError(f"instrument scope must be one of {', '.join(INSTRUMENT_SCOPES)}, got {scope!r}")
    prefixes = INSTRUMENT_SCOPES[scope]
    if not prefixes:
        return 0
    import promfuzz.generators.cases
    import promfuzz.generators.coverage
    import promfuzz.generators.mutate  # noqa: F401 - imported to be instrumented

    patched: dict[int, types.CodeType] = {}  # original code id -> instrumented code
    for obj in gc.get_objects():
        if not isinstance(obj, types.FunctionType):
            continue
        mod = getattr(obj, "__module__", None) or ""
        if mod == __name__ or not any(mod == p or mod.startswith(p + ".") for p in prefixes):
            continue
        code = obj.__code__
        if code in patched.values():
            continue  # already instrumented (a closure sharing a patched function's code)
        if id(code) in patched:
            obj.__code__ = patched[id(code)]
            continue
        atheris.instrument_func(obj)
        patched[id(code)] = obj.__code__
    return len(patched)


def run_atheris(reference: str, target: str, libfuzzer_args: list[str], out: Path | None = None,
                corpus: Path | None = Path("corpus"), instrument: str = "generators") -> int:
    import atheris

    from promfuzz.engines.registry import open_engine
    from promfuzz.generators.cases import case_from_bytes
    from promfuzz.pipeline import result_view
    from promfuzz.pytest_failure import SameResultCheck

    run_id = "atheris-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = out or Path("reports") / run_id
    ref = open_engine(reference)
    tgt = open_engine(target)
    judge = SameResultCheck(ref, tgt).judge  # the campaign's oracle: rules, versions, operand resolver
    stats = RunStats()
    findings: dict[str, Finding] = {}
    t0 = time.monotonic()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    store = None
    if corpus is not None:
        from promfuzz.corpus.store import CorpusStore

        store = CorpusStore(corpus)

    def write(complete: bool) -> None:
        stats.wall_seconds = time.monotonic() - t0
        summary = summary_dict(
            run_id=run_id, seed=0, budget={"libfuzzer_args": libfuzzer_args}, stats=stats,
            reference={"name": reference, "versions": ref.versions()},
            targets=[{"name": target, "versions": tgt.versions()}], oracles=["differential"],
            findings=list(findings.values()), workers=1, shard="0/1", started_at=started,
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"), complete=complete, interrupted=False,
            grammar_coverage={},
        )
        write_report(out, summary, list(findings.values()))

    last_write = [time.monotonic()]

    def one_input(data: bytes) -> None:
        if time.monotonic() - last_write[0] > 5.0:
            last_write[0] = time.monotonic()
            write(complete=False)
        gc = case_from_bytes(data)
        case = gc.case
        v, r, t = judge(case)
        stats.cases += 1
        stats.engine_seconds[ref.name] = stats.engine_seconds.get(ref.name, 0.0) + r.stats.wall_ns / 1e9
        stats.engine_seconds[tgt.name] = stats.engine_seconds.get(tgt.name, 0.0) + t.stats.wall_ns / 1e9
        stats.verdicts[v.kind] += 1
        if v.signature is None or v.kind in ("match", "not_applicable"):
            return
        key = v.signature.key()
        if key in findings:
            findings[key].occurrences += 1
            return
        f = Finding(signature=key, title=v.signature.title, verdict=v.kind, oracle=v.oracle,
                    category=v.signature.category, reference=reference, target=target, query=case.query,
                    original_query=case.query, params=case.params.to_json_obj(), case_file=None,
                    diff=v.detail, results=[result_view(r), result_view(t)], rule=v.rule)
        if store is not None and v.kind in ("divergence", "engine_failure"):
            outcome = store.add(case, key, expected=r, verdict=v.to_json_obj(),
                                engines={reference: ref.versions(), target: tgt.versions()}, oracle=v.oracle)
            f.case_file = str(outcome.stored.test_path)
        findings[key] = f
        print(f"promfuzz atheris: [{v.kind}] {key}: {case.query}", file=sys.stderr, flush=True)
        write(complete=False)

    # libFuzzer ends the process itself (C exit()) when -runs / -max_total_time is reached,
    # so the report is rewritten on every finding and every 5 s, and the engine hosts exit
    # on their own when their stdin closes with this process.
    n = instrument_generators(instrument)
    print(f"promfuzz atheris: {reference} vs {target}; {n} functions instrumented ({instrument}); "
          f"report in {out}/", file=sys.stderr, flush=True)
    write(complete=False)
    atheris.Setup([sys.argv[0], *libfuzzer_defaults(libfuzzer_args)], one_input)
    atheris.Fuzz()
    return 0
