"""Which engine revisions the hosts build against, and how long a build takes.

Usage: .venv/bin/python bench/bench_revisions.py FAMILY REV [REV ...] [--build-dir DIR] [--warm]

Builds FAMILY@REV for each REV into DIR/revs (default: a temporary folder, so .build/ is
untouched; Go's build and module caches are the usual ones) and prints one JSON line per
revision: the result ("ok <version>" or the one-line error), seconds, and the load
average. --warm deletes each finished build and builds it again (the Go build cache is
then warm). Numbers only, nothing asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from promfuzz.engines.revisions import Revision, RevisionError, ensure_built
from promfuzz.engines.spec import FAMILIES


def build_once(family: str, rev: str, bdir: Path) -> dict[str, object]:
    fam = FAMILIES[family]
    host = fam.binary.split("-")[0]
    t = time.monotonic()
    try:
        b = ensure_built(f"{family}@{rev}", host, fam.binary, Revision(host, rev), bdir, progress=None)
        out, folder = f"ok {b.meta.get('version') or rev}", b.directory
    except RevisionError as e:
        out, folder = f"FAIL {e}", None
    return {"rev": rev, "seconds": round(time.monotonic() - t, 1), "load": os.getloadavg()[0],
            "result": out, "folder": str(folder) if folder else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("family", choices=[f for f, d in FAMILIES.items() if d.kind == "host"])
    ap.add_argument("revs", nargs="+")
    ap.add_argument("--build-dir", type=Path)
    ap.add_argument("--warm", action="store_true")
    args = ap.parse_args()
    bdir = args.build_dir or Path(tempfile.mkdtemp(prefix="promfuzz-revs-"))
    try:
        for rev in args.revs:
            row = build_once(args.family, rev, bdir)
            print(json.dumps(row), flush=True)
            if args.warm and row["folder"]:
                shutil.rmtree(str(row["folder"]))
                print(json.dumps({**build_once(args.family, rev, bdir), "kind": "warm"}), flush=True)
    finally:
        if args.build_dir is None:
            shutil.rmtree(bdir, ignore_errors=True)


if __name__ == "__main__":
    main()
