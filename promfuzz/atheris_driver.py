"""Coverage-guided fuzzing: atheris' bytes drive the same generators as campaigns.

``promfuzz atheris --reference R --target T -- -runs=1000 -max_len=512`` feeds every input
through :func:`promfuzz.generators.cases.case_from_bytes`, runs the case on both engines
and judges it with the differential oracle. Atheris instruments promfuzz's own Python (the
generators), so new byte patterns that reach new generator branches are kept: it explores
the grammar, not the Go engines' code. Divergences are written like a campaign's: a report
folder ``reports/atheris-<time>/`` and the corpus. A divergence does not stop the fuzzer.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from promfuzz.reports.records import Finding, RunStats
from promfuzz.reports.writer import summary_dict, write_report


def run_atheris(reference: str, target: str, libfuzzer_args: list[str], out: Path | None = None,
                corpus: Path | None = Path("corpus")) -> int:
    import atheris

    from promfuzz.engines.registry import open_engine
    from promfuzz.generators.cases import case_from_bytes
    from promfuzz.oracles import DifferentialOracle, load_rules
    from promfuzz.pipeline import result_view

    run_id = "atheris-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = out or Path("reports") / run_id
    ref = open_engine(reference)
    tgt = open_engine(target)
    oracle = DifferentialOracle(rules=load_rules())
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
        ref.load(case.dataset)
        tgt.load(case.dataset)
        r = ref.query(case.query, case.params)
        t = tgt.query(case.query, case.params)
        stats.cases += 1
        stats.engine_seconds[ref.name] = stats.engine_seconds.get(ref.name, 0.0) + r.stats.wall_ns / 1e9
        stats.engine_seconds[tgt.name] = stats.engine_seconds.get(tgt.name, 0.0) + t.stats.wall_ns / 1e9
        v = oracle.check(case, r, t)
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
    print(f"promfuzz atheris: {reference} vs {target}; report in {out}/", file=sys.stderr, flush=True)
    write(complete=False)
    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input)
    atheris.Fuzz()
    return 0
