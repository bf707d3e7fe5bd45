"""The ``promfuzz`` command line.

Every subcommand is a thin layer over a public function; see ``promfuzz <command> --help``.
Errors that promfuzz raises on purpose (bad files, unknown engines, missing host builds)
print one clear line and exit with status 2; divergences found exit with status 1 where a
command promises it (``run --fail-on-divergence``, ``replay``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from promfuzz.errors import PromfuzzError
from promfuzz.plan import DEFAULT_QUERIES_PER_DATASET

EPILOG = """\
engines: prometheus (upstream engine, in-process), mqe and mimir-prometheus (Grafana Mimir's
streaming engine and its Prometheus fork, in-process), thanos and thanos-prometheus (Thanos
engine, in-process), prometheus-live (a real Prometheus server started by promfuzz, data loaded
by remote write), http:<url>[?loader=remote_write|victoriametrics_import|none] (any
Prometheus-compatible target; auth from PROMFUZZ_HTTP_BEARER_TOKEN / PROMFUZZ_HTTP_BASIC_AUTH,
tenant from PROMFUZZ_HTTP_TENANT).
An engine is a spec FAMILY[OPTION,...]: mqe[passes=all], mqe[-narrow_binary_selectors],
thanos[optimizers=none], prometheus[lookback=30s] (docs/engines.md; `promfuzz engines --json`
lists each family's options and defaults). --reference auto (the default) judges each target
against the Prometheus engine of its own build: mimir-prometheus for mqe, thanos-prometheus
for thanos, prometheus otherwise.
"""


def _add_engine_args(p: argparse.ArgumentParser, target_default: str | None = "mqe", many: bool = False) -> None:
    p.add_argument("--reference", default="auto", metavar="ENGINE",
                   help="reference engine spec, or auto: the Prometheus engine of the target's own build "
                        "(mimir-prometheus for mqe, thanos-prometheus for thanos, prometheus otherwise; default: auto)")
    if many:
        p.add_argument("--target", action="append", metavar="ENGINE",
                       help=f"engine under test; repeat for several (default: {target_default})")
    else:
        p.add_argument("--target", default=target_default, metavar="ENGINE",
                       help=f"engine under test (default: {target_default})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promfuzz",
        description="Fuzz and differential correctness suite for PromQL engines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("engines", help="list the engines that can run here, their versions and build state")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("generate", help="print generated cases (query, params, dataset) for people to read")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, default=5)

    p = sub.add_parser("coverage", help="grammar coverage of N generated cases, and the share that parses")
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-host", action="store_true", help="skip the parse check in the prometheus host")

    p = sub.add_parser(
        "run",
        help="a fuzz campaign: generate cases, run them on reference and targets, judge, shrink, store",
        description="Run a fuzz campaign. Ctrl-C stops cleanly: the corpus is flushed and the report written.",
    )
    _add_engine_args(p, many=True)
    p.add_argument("--budget", default="2m", help="wall time (90s, 10m, 1h) or a case count (5000); default 2m")
    p.add_argument("--seed", type=int, default=None, help="run seed (default: derived from the clock, printed)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument("--shard", default="0/1", help="i/n: run only shard i of n (disjoint seeds across shards)")
    p.add_argument("--oracles", default="differential",
                   help="comma-separated: differential, metamorphic, performance (default: differential)")
    p.add_argument("--corpus", default="corpus", type=Path, help="regression corpus folder (default: corpus/)")
    p.add_argument("--out", default=None, type=Path, help="report folder (default: reports/<run-id>/)")
    p.add_argument("--resume", default=None, type=Path, metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--queries-per-dataset", type=int, default=DEFAULT_QUERIES_PER_DATASET,
                   help=f"queries run on each generated dataset (default: {DEFAULT_QUERIES_PER_DATASET})")
    p.add_argument("--source", choices=("grammar", "upstream", "mixed"), default="grammar",
                   help="queries from the grammar generator, from Prometheus's and Mimir's promqltest "
                        "queries mutated structurally, or half each (default: grammar)")
    p.add_argument("--no-shrink", action="store_true", help="store raw divergences without shrinking")
    p.add_argument("--guided", action="store_true",
                   help="engine-coverage feedback: the target runs on its host's coverage build; cases reaching "
                        "new engine code are kept and mutated (one target, one process; divergences stored unshrunk; "
                        "see promfuzz/guided.py)")
    p.add_argument("--no-explain", action="store_true",
                   help="do not run promfuzz explain on new findings (attribution: pass, fork lag, engine)")
    p.add_argument("--triage-reference", default=None, metavar="ENGINE",
                   help="replay each finding on this upstream engine (e.g. prometheus) and label it "
                        "engine / fork-lag / both (explain's upstream; also with --no-explain)")
    p.add_argument("--no-vary-lookback", action="store_true",
                   help="run every dataset under the engines' own lookback (default: one of 5m, 30s, 1m, 10m per dataset)")
    p.add_argument("--no-parser-aware", action="store_true",
                   help="generate the whole grammar, also what one side's parser cannot parse")
    p.add_argument("--shared-target", action="store_true",
                   help="allow an http: target without isolation (profile=generic): one dataset, one worker, no shrinking")
    p.add_argument("--fail-on-divergence", action="store_true", help="exit 1 if any divergence was found")
    p.add_argument("--no-progress", action="store_true", help="plain log lines instead of the live display")

    p = sub.add_parser("replay", help="replay corpus cases or promqltest files against an engine")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help=".test files or corpus folders")
    p.add_argument("--engine", required=True, help="engine spec to check (e.g. mqe, mqe[passes=all])")
    p.add_argument("--against", default=None, help="compare live with this engine instead of the files' expectations")
    p.add_argument("--out", default=None, type=Path, help="write a JSON report here")
    p.add_argument("--no-fail", action="store_true", help="exit 0 even if cases fail")
    p.add_argument("--verbose", "-v", action="store_true", help="show every failing case's diff")
    p.add_argument("--record-annotations", action="store_true",
                   help="corpus cases stored before sidecars held the answer's exact annotations: fill them in "
                        "from ENGINE's answer where ENGINE is the case's reference and the case passes")

    p = sub.add_parser("shrink", help="shrink one case (a corpus .test file) while its divergence keeps its signature")
    p.add_argument("case", type=Path, help="a .test file with one load and one eval")
    _add_engine_args(p)
    p.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    p.add_argument("--out", default=None, type=Path, help="write the shrunk case here (default: stdout)")

    p = sub.add_parser(
        "explain",
        help="attribute one case: replay it on the same-build reference, upstream Prometheus, the target "
             "with each option toggled, and other built revisions; a table and a one-line conclusion",
    )
    p.add_argument("case", type=Path, help="a .test file with one eval (e.g. a corpus case)")
    p.add_argument("--engine", required=True, help="the engine spec under test (e.g. mqe, mqe[passes=all], thanos)")
    p.add_argument("--reference", default="auto", metavar="ENGINE",
                   help="reference engine spec, or auto: the Prometheus engine of the target's own build (default)")
    p.add_argument("--seconds", type=float, default=None, help="time bound (default: none)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser(
        "bisect",
        help="the first commit of a local engine checkout whose answer to a case changed (git bisect run style)",
    )
    p.add_argument("case", type=Path, help="a .test file with one eval")
    p.add_argument("--engine", required=True, help="the engine family spec (mqe, thanos, prometheus, options allowed)")
    p.add_argument("--repo", required=True, type=Path, help="a git checkout of the engine's repository")
    p.add_argument("--good", required=True, help="a commit with the old answer")
    p.add_argument("--bad", required=True, help="a later commit with the new answer")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = sub.add_parser("bugs", help="the bug ledger (corpus/bugs/*.toml): list, show, write an upstream report")
    p.add_argument("--corpus", default="corpus", type=Path, help="corpus folder (default: corpus/)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bsub_b = p.add_subparsers(dest="bugs_command", metavar="SUBCOMMAND")
    b = bsub_b.add_parser("show", help="one bug: status, attribution, members")
    b.add_argument("id")
    b = bsub_b.add_parser("grouping", help="measure the automatic root-cause grouping against the ledger's hand labels "
                                           "(pairwise precision and recall)")
    b.add_argument("--labelled", type=Path, default=None, metavar="FILE",
                   help="a frozen labelled set (tests/fixtures/bug_grouping/labelled.json) instead of the corpus's ledger")
    b.add_argument("--attribution", type=Path, default=None, metavar="FILE",
                   help="JSON: case -> promfuzz explain output, the attribution of the corpus's cases")
    b.add_argument("--explain", action="store_true", help="run promfuzz explain on every case first (needs the hosts)")
    b.add_argument("--write-labelled", type=Path, default=None, metavar="FILE", help="freeze the labelled set here")
    b.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON instead of text")
    b = bsub_b.add_parser("report", help="write an upstream-ready Markdown report (runs the engines)")
    b.add_argument("id")
    b.add_argument("--out", required=True, type=Path, help="the .md file to write")

    p = sub.add_parser("report", help="rebuild the report of run folders; with several, show the trend")
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")

    p = sub.add_parser("bench", help="benchmarks that print numbers (never pass/fail)")
    bsub = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    b = bsub.add_parser("throughput", help="differential cases per second, and the share of time in the engines")
    _add_engine_args(b)
    b.add_argument("--workers", type=int, default=1)
    b.add_argument("--budget", default="30s")
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--queries-per-dataset", type=int, default=DEFAULT_QUERIES_PER_DATASET)
    for name, text in (
        ("coverage", "statement coverage of an engine's Go packages reached by a query source"),
        ("compare", "promfuzz vs promqlsmith (and upstream testdata): coverage over time, signatures"),
        ("engines", "latency and memory of a target engine against the reference on large datasets"),
        ("oracle", "oracle fault detection: mutations of real matching answers, share flagged per operator"),
    ):
        # Arguments after the name go to promfuzz.benchmarks.<name>.main (see main() below).
        bsub.add_parser(name, help=text, add_help=False)

    from promfuzz.tee.cli import add_parsers as _add_tee_parsers

    _add_tee_parsers(sub)  # tee, replay-log (promfuzz/tee/cli.py)

    p = sub.add_parser("atheris", help="drive the generators from atheris (coverage-guided) bytes")
    _add_engine_args(p)
    p.add_argument("--instrument", choices=("generators", "all", "none"), default="generators",
                   help="Python coverage libFuzzer sees: the generator and promql modules (default), "
                        "all of promfuzz (the oracle too), or none")
    p.add_argument("libfuzzer_args", nargs=argparse.REMAINDER, help="arguments after -- go to libFuzzer")
    return parser


_PASS_THROUGH_BENCHES = ("coverage", "compare", "engines", "oracle")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "bench" and argv[1] in _PASS_THROUGH_BENCHES:
        # These benchmarks own their options (``promfuzz bench coverage --help``).
        import importlib

        try:
            return int(importlib.import_module(f"promfuzz.benchmarks.{argv[1]}").main(argv[2:]) or 0)
        except PromfuzzError as e:
            print(f"promfuzz: error: {e}", file=sys.stderr)
            return 2
    args = build_parser().parse_args(argv)
    try:
        return int(_dispatch(args) or 0)
    except PromfuzzError as e:
        print(f"promfuzz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("promfuzz: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    reference, target = getattr(args, "reference", None), getattr(args, "target", None)
    if isinstance(reference, str) and isinstance(target, str):  # one-target commands; run resolves its own
        from promfuzz.engines.registry import resolve_reference

        args.reference = resolve_reference(reference, target)
    handler = globals()[f"_cmd_{args.command.replace('-', '_')}"]
    return int(handler(args) or 0)


def _cmd_engines(args: argparse.Namespace) -> int:
    from promfuzz.engines.registry import available_engines

    infos = available_engines()
    if args.json:
        print(json.dumps([i.to_json_obj() for i in infos], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table("engine", "kind", "built", "versions", "options (default)", "note")
    for i in infos:
        versions = ", ".join(f"{k.rsplit('/', 1)[-1]} {v}" for k, v in i.versions.items())
        options = ", ".join(f"{k}={o['default']}" for k, o in i.options.items())
        t.add_row(i.name, i.kind, "yes" if i.built else "no", versions, options, i.note)
    Console().print(t)
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from promfuzz.generators.cases import format_cases

    print(format_cases(args.seed, args.count), end="")
    return 0


def _cmd_coverage(args: argparse.Namespace) -> int:
    from promfuzz.generators.coverage import coverage_report, format_coverage

    report = coverage_report(args.cases, args.seed, check_host=not args.no_host)
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else format_coverage(report))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    if args.guided:
        from promfuzz.guided import run_guided_command

        return run_guided_command(args)
    from promfuzz.campaign import CampaignConfig, run_campaign

    cfg = CampaignConfig.from_args(args)
    summary = run_campaign(cfg, progress=not args.no_progress)
    if args.fail_on_divergence and summary.get("counts", {}).get("by_verdict", {}).get("divergence", 0):
        return 1
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from promfuzz.corpus.replay import format_report, replay
    from promfuzz.engines.registry import open_engine

    engine = open_engine(args.engine)
    against = open_engine(args.against) if args.against else None
    try:
        report = replay(args.paths, engine, against=against, record_annotations=args.record_annotations)
    finally:
        engine.close()
        if against is not None:
            against.close()
    print(format_report(report, verbose=args.verbose))
    from promfuzz.bugs import record_replay

    regressions = 0
    for _root, update in record_replay(report).items():  # the ledger's last_seen; fixed bugs failing again
        for line in update.lines():
            print(line)
        regressions += len(update.regressions)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report.to_json_obj(), indent=2) + "\n", encoding="utf-8")
    return 0 if args.no_fail or (report.failed == 0 and regressions == 0) else 1


def _cmd_shrink(args: argparse.Namespace) -> int:
    from promfuzz.shrink.cli import shrink_file

    text = shrink_file(args.case, args.reference, args.target, seconds=args.seconds)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from promfuzz.explain import explain_file, format_json

    ref = None if args.reference == "auto" else args.reference
    ex = explain_file(args.case, args.engine, reference=ref, seconds=args.seconds)
    print(format_json(ex) if args.json else ex.format_table(), end="")
    return 0


def _cmd_bisect(args: argparse.Namespace) -> int:
    from promfuzz.bisect import bisect_file

    res = bisect_file(args.case, args.engine, args.repo, args.good, args.bad,
                      progress=lambda m: print(f"promfuzz: {m}", file=sys.stderr, flush=True))
    print(json.dumps(res.to_json_obj(), indent=2) if args.json else res.format_text(), end="\n" if args.json else "")
    return 0 if res.first_bad else 1


def _cmd_bugs(args: argparse.Namespace) -> int:
    from promfuzz.bugs import find_bug, load_ledger
    from promfuzz.bugs.report import format_list, format_show, to_json, write_report_file

    sub = getattr(args, "bugs_command", None)
    if sub == "grouping":
        return _cmd_bugs_grouping(args)
    bugs = load_ledger(args.corpus)
    if sub is None:
        print(to_json(bugs) if args.json else format_list(bugs), end="")
    elif sub == "show":
        bug = find_bug(bugs, args.id)
        print(to_json([bug]) if args.json else format_show(bug), end="")
    else:
        path = write_report_file(find_bug(bugs, args.id), args.corpus, args.out)
        print(f"report: {path}")
    return 0


def _cmd_bugs_grouping(args: argparse.Namespace) -> int:
    from promfuzz.bugs import grouping as g

    if args.labelled is not None:
        labelled = g.load_labelled(args.labelled)
    else:
        attribution = None
        if args.attribution is not None:
            attribution = json.loads(args.attribution.read_text(encoding="utf-8"))
        elif args.explain:
            attribution = g.explain_members(args.corpus)
        labelled = g.labelled_set(args.corpus, attribution)
    if args.write_labelled is not None:
        args.write_labelled.write_text(json.dumps(labelled, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
    attributed = any(r["facts"].get("label") for r in labelled["cases"])
    results = {}
    if attributed:
        results["with attribution (promfuzz explain)"] = g.measure(labelled)
    results["without attribution (what an unexplained finding has)"] = g.measure(labelled, use_attribution=False)
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(g.format_measure(results), end="")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from promfuzz.reports.writer import load_run, trend, write_report

    runs = []
    for folder in args.runs:
        summary, findings = load_run(folder)
        if not summary:
            raise PromfuzzError(f"{folder}: no summary.json (not a promfuzz run folder)")
        runs.append((folder, summary, findings))
    tr = trend([(str(s.get("run_id", f)), s) for f, s, _ in runs]) if len(runs) > 1 else None
    last_folder, last_summary, last_findings = runs[-1]
    if len(runs) > 1:  # index.html compares with the run given before the last
        from promfuzz.reports.bugview import Run

        write_report(last_folder, last_summary, last_findings, trend=tr, previous=Run(*runs[-2]))
    else:  # with the latest earlier run next to it, if any
        write_report(last_folder, last_summary, last_findings, trend=tr)
    print(f"report: {last_folder / 'index.html'}")
    if tr:
        print(f"new: {len(tr['new'])}  still failing: {len(tr['still_failing'])}  fixed: {len(tr['fixed'])}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from promfuzz import bench

    return int(bench.run(args) or 0)


def _cmd_atheris(args: argparse.Namespace) -> int:
    from promfuzz.atheris_driver import run_atheris

    extra = [a for a in args.libfuzzer_args if a != "--"]
    return run_atheris(args.reference, args.target, extra, instrument=args.instrument)


if __name__ == "__main__":
    sys.exit(main())


def _cmd_tee(args: argparse.Namespace) -> int:
    from promfuzz.tee.cli import cmd_tee

    return cmd_tee(args)


def _cmd_replay_log(args: argparse.Namespace) -> int:
    from promfuzz.tee.cli import cmd_replay_log

    return cmd_replay_log(args)
