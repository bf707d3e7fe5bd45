"""Regenerate docs/findings-attribution.md: promfuzz explain over the open corpus cases.

    .venv/bin/python bench/findings_attribution.py [--corpus corpus] [--out docs/findings-attribution.md]

For every open MQE corpus case (a case whose sidecar names ``mqe`` as an engine, and whose
ledger bug, if any, is not ``fixed`` or ``not-a-bug``) it runs ``promfuzz explain CASE
--engine mqe``: the verdict under ``mqe`` (Mimir's defaults) and under ``mqe[passes=all]``
against ``mimir-prometheus`` (the same build's Prometheus engine), the pass explain
attributes it to, and the label (engine / fork-lag / both / none). The same for every
open Thanos corpus case (sidecar engines ``thanos`` or ``thanos-prometheus``) with
``--engine thanos`` against ``thanos-prometheus`` (--reference auto). Verdicts are live
answers judged without known-difference rules (explain's raw comparison), not the stored
expectations. Prints progress on stderr; the Markdown goes to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLOSED = ("fixed", "not-a-bug")
KEEP_MARKER = "<!-- campaigns: kept when the table is regenerated -->"


def open_cases(corpus: Path, families: tuple[str, ...]) -> list[tuple[Path, str]]:
    """(test path, bug id or '-') of every open case with one of ``families`` as an engine."""
    from promfuzz.bugs import load_ledger
    from promfuzz.bugs.ledger import case_index

    index = case_index(load_ledger(corpus, check_members=False))
    out = []
    for meta in sorted(corpus.glob("*/*.json")):
        try:
            d = json.loads(meta.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if d.get("format") != "promfuzz-corpus-case/1":
            continue
        if not any(e.split("[", 1)[0].split("@", 1)[0] in families for e in d.get("engines", {})):
            continue
        test = meta.with_suffix(".test")
        rel = f"{test.parent.name}/{test.name}"
        bug = index.get(rel)
        if bug is not None and bug.status in CLOSED:
            continue
        out.append((test, bug.id if bug is not None else "-"))
    return out


def explain_all(cases: list[tuple[Path, str]], engine: str) -> list[dict[str, Any]]:
    from promfuzz.explain import Explainer, read_case_file

    rows = []
    t0 = time.monotonic()
    with Explainer() as ex:
        for k, (path, bug) in enumerate(cases):
            try:
                e = ex.explain(read_case_file(path), engine, name=str(path), revisions=False)
                d = e.to_json_obj()
            except Exception as err:  # noqa: BLE001 - one bad case must not stop the table
                d = {"error": f"{type(err).__name__}: {err}", "rows": [], "label": "none", "attributed": [],
                     "conclusion": f"not explained: {err}"}
            d["bug"] = bug
            d["path"] = f"{path.parent.name}/{path.name}"
            rows.append(d)
            if k % 25 == 0:
                print(f"{engine}: {k + 1}/{len(cases)} ({time.monotonic() - t0:.0f}s)", file=sys.stderr, flush=True)
    return rows


def _verdict(d: dict[str, Any], engine: str) -> str:
    r = next((r for r in d["rows"] if r["engine"] == engine), None)
    return "-" if r is None else ("diverges" if r["vs_reference"] in ("divergence", "engine_failure", "unsupported")
                                  else r["vs_reference"])


def section(title: str, rows: list[dict[str, Any]], base: str, alt: str, ref: str) -> list[str]:
    lines = [f"## {title}", ""]
    c_base = Counter(_verdict(d, base) for d in rows)
    c_alt = Counter(_verdict(d, alt) for d in rows)
    labels = Counter(d["label"] for d in rows)
    attributed = Counter(a for d in rows for a in d["attributed"])
    lines += [
        f"{len(rows)} open cases. Against `{ref}`: under `{base}` {c_base.get('diverges', 0)} diverge, "
        f"{c_base.get('match', 0)} match; under `{alt}` {c_alt.get('diverges', 0)} diverge, {c_alt.get('match', 0)} match"
        + (f", {c_base.get('error', 0) + c_alt.get('error', 0)} errors" if c_base.get("error") or c_alt.get("error") else "")
        + ".",
        "",
        "Labels: " + ", ".join(f"{k} {v}" for k, v in labels.most_common()) + ".",
        "",
        "Attributed (the toggle that alone makes the case diverge, `+` = on): "
        + (", ".join(f"`{k}` {v}" for k, v in attributed.most_common()) or "none") + ".",
        "",
        f"| case | bug | `{base}` | `{alt}` | attributed | label | conclusion |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in sorted(rows, key=lambda d: (d["bug"], d["path"])):
        concl = d["conclusion"].replace("|", "\\|")
        attr = ", ".join(f"`{a}`" for a in d["attributed"]) or "-"
        lines.append(f"| `{d['path']}` | {d['bug']} | {_verdict(d, base)} | {_verdict(d, alt)} | {attr} | "
                     f"{d['label']} | {concl} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "findings-attribution.md")
    ap.add_argument("--json", type=Path, default=None, help="also write every explanation as JSON here")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    mqe = explain_all(open_cases(args.corpus, ("mqe",)), "mqe")
    thanos = explain_all(open_cases(args.corpus, ("thanos", "thanos-prometheus")), "thanos")
    secs = time.monotonic() - t0
    from promfuzz.engines.registry import open_engine

    vers = {}
    for name in ("mqe", "thanos", "prometheus"):
        with open_engine(name) as e:
            vers[name] = e.versions()
    text = [
        "# Findings attribution: promfuzz explain over the open corpus cases",
        "",
        "Generated by `.venv/bin/python bench/findings_attribution.py` (rerun it after the corpus or the pins",
        f"change; this run took {secs:.0f} s). For each case, `promfuzz explain CASE --engine mqe` (or `thanos`)",
        "replays it on the same-build reference, upstream Prometheus and the target with each optimization",
        "pass / optimizer level toggled alone and all off / all on (docs/engines.md), and concludes. Verdicts are",
        "today's live answers judged without known-difference rules (explain's raw comparison), not the stored",
        "expectations (most corpus cases were stored against upstream `prometheus`, before `--reference auto`).",
        "",
        "* **label** `engine`: the same-build reference agrees with upstream and the target differs (or differs",
        "  under some toggle); `fork-lag`: the fork's own Prometheus engine differs from upstream too;",
        "  `both`: the target differs from its reference, which differs from upstream; `none`: no engine of the",
        "  explanation differs from the reference (the case no longer reproduces, or it was a difference only",
        "  against upstream that the target shares with its fork: then the label is `fork-lag`).",
        "* **attributed**: the toggle that alone flips the verdict (`+pass` = the case diverges with the pass",
        "  on; `optimizers=all` = only with that level).",
        "* Open = not in a ledger bug marked `fixed` or `not-a-bug` (`corpus/bugs/*.toml`); `-` = in no bug yet.",
        "",
        "Versions: " + "; ".join(f"`{n}`: " + ", ".join(f"{k.rsplit('/', 1)[-1]} {v}" for k, v in sorted(vv.items())
                                                     if k not in ("go", "host")) for n, vv in vers.items()),
        "",
    ]
    text += section("MQE cases: `mqe` (Mimir's defaults) vs `mqe[passes=all]`, against `mimir-prometheus`",
                    mqe, "mqe", "mqe[passes=all]", "mimir-prometheus")
    text += section("Thanos cases: `thanos` (its defaults) vs `thanos[optimizers=all]`, against `thanos-prometheus`",
                    thanos, "thanos", "thanos[optimizers=all]", "thanos-prometheus")
    kept = ""
    if args.out.exists():  # hand-written notes after the marker survive a rerun
        old = args.out.read_text(encoding="utf-8")
        if KEEP_MARKER in old:
            kept = old[old.index(KEEP_MARKER):]
    args.out.write_text("\n".join(text) + ("\n" + kept if kept else ""), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({"mqe": mqe, "thanos": thanos}, indent=1), encoding="utf-8")
    print(f"wrote {args.out} ({len(mqe)} MQE and {len(thanos)} Thanos cases, {secs:.0f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
