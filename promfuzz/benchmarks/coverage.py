"""Go statement coverage of an engine's packages reached by a query source.

* :func:`build_coverage_host` -- ``go build -cover`` of a host into ``.build/cover/``
  (cached: rebuilt only when the host's or hostkit's sources, the flags or Go change).
* :func:`run_coverage` -- start the coverage host, run a query source for a time budget,
  take a coverage snapshot every ``sample_every_s`` (hostkit's ``/coverage/flush``) and at
  the end, and return a :class:`CoverageReport` (overall, per package, per file, over time).

Sources: ``promfuzz`` (the generator on generated datasets), ``promqlsmith`` (the Mimir
host's ``/generate`` on the same generated datasets) and ``upstream`` (Prometheus's
promqltest testdata replayed with :func:`promfuzz.corpus.replay.replay`).

Statement coverage is computed from ``go tool covdata textfmt`` profiles; only the
engine's own packages count (the host's main package and test helpers such as
``promqltest`` are left out of the figures).

``python -m promfuzz.benchmarks.coverage --engine prometheus --source promfuzz --budget 60``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promfuzz.engines.host import HostEngine, HostProcess, dataset_body
from promfuzz.engines.registry import default_build_dir
from promfuzz.errors import ConfigError, EngineError
from promfuzz.model import Dataset, EvalParams

REPO_ROOT = Path(__file__).resolve().parents[2]
HOSTS_DIR = REPO_ROOT / "hosts"
SOURCES = ("promfuzz", "promqlsmith", "upstream")
QUERIES_PER_DATASET = 50
QUERY_TIMEOUT_S = 5.0
COVER_MODE = "atomic"  # WriteCountersDir (snapshots while running) needs atomic counters
GENERATOR_BINARY = "mimir-host"  # serves /generate (promqlsmith)


class CoverageBuildError(EngineError):
    """A coverage build of a host failed (or Go is missing)."""


@dataclass(frozen=True)
class CoverSpec:
    """How to build one host with coverage: its folder, main package and engine packages."""

    binary: str
    folder: str
    main_package: str
    engine_packages: str  # a -coverpkg pattern
    engines: tuple[str, ...]
    testdata_module: str  # module whose promqltest testdata the upstream source replays

    @property
    def coverpkg(self) -> str:
        return f"{self.main_package},{self.engine_packages}"

    def counts(self, package: str) -> bool:
        """Whether a package's statements count in the figures (engine code only)."""
        prefix = self.engine_packages.removesuffix("/...")
        if package != prefix and not package.startswith(prefix + "/"):
            return False
        return not any(part in package for part in ("promqltest", "testutil", "/testing"))


COVER_SPECS: dict[str, CoverSpec] = {
    "prometheus-host": CoverSpec(
        "prometheus-host",
        "prometheus",
        "github.com/promfuzz/promfuzz/hosts/prometheus",
        "github.com/prometheus/prometheus/promql/...",
        ("prometheus",),
        "prometheus",
    ),
    "mimir-host": CoverSpec(
        "mimir-host",
        "mimir",
        "github.com/promfuzz/promfuzz/hosts/mimir",
        "github.com/grafana/mimir/pkg/streamingpromql/...",
        ("mqe",),
        "mimir-prometheus",
    ),
    "thanos-host": CoverSpec(
        "thanos-host",
        "thanos",
        "github.com/promfuzz/promfuzz/hosts/thanos",
        "github.com/thanos-io/promql-engine/...",
        ("thanos",),
        "prometheus",
    ),
}


def spec_for_engine(engine: str) -> CoverSpec:
    """The coverage spec whose engine packages ``engine`` runs."""
    for spec in COVER_SPECS.values():
        if engine in spec.engines:
            return spec
    known = sorted(e for s in COVER_SPECS.values() for e in s.engines)
    raise ConfigError(f"no coverage build for engine {engine!r}; known: {', '.join(known)}")


# ----------------------------------------------------------------------------- build


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise CoverageBuildError("coverage builds need the Go toolchain (`go` is not on PATH)")
    return go


def _source_stamp(spec: CoverSpec, go: str) -> str:
    h = hashlib.sha256()
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=False).stdout
    h.update(f"{version}\n{COVER_MODE}\n{spec.coverpkg}\n".encode())
    for folder in (HOSTS_DIR / spec.folder, HOSTS_DIR / "hostkit"):
        for p in sorted(folder.iterdir()):
            if p.is_file() and (p.suffix == ".go" or p.name in ("go.mod", "go.sum")):
                if p.name.endswith("_test.go"):
                    continue
                h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def build_coverage_host(
    name: str, *, build_dir: str | Path | None = None, force: bool = False, timeout_s: float = 1800.0
) -> Path:
    """Build host ``name`` (``prometheus-host``, ``mimir-host``, ``thanos-host``, or an engine
    name such as ``mqe``) with ``go build -cover -covermode=atomic -coverpkg=<main>,<engine
    packages>`` into ``<build_dir>/cover/<binary>`` and return the path. Cached: a stamp
    file next to the binary holds a hash of the sources, flags and Go version."""
    spec = COVER_SPECS.get(name) or spec_for_engine(name)
    go = _go()
    out_dir = Path(build_dir) if build_dir is not None else default_build_dir()
    out = (out_dir / "cover" / spec.binary).absolute()
    stamp_path = out.with_name(out.name + ".stamp")
    stamp = _source_stamp(spec, go)
    if not force and out.is_file() and stamp_path.is_file() and stamp_path.read_text() == stamp:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        go,
        "build",
        "-cover",
        f"-covermode={COVER_MODE}",
        f"-coverpkg={spec.coverpkg}",
        "-o",
        str(out),
        ".",
    ]
    env = {**_environ(), "CGO_ENABLED": "0"}
    try:
        r = subprocess.run(
            argv,
            cwd=HOSTS_DIR / spec.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise CoverageBuildError(f"coverage build of {spec.binary} took more than {timeout_s:g}s") from e
    if r.returncode != 0:
        raise CoverageBuildError(
            f"coverage build of {spec.binary} failed ({' '.join(argv)}):\n{r.stderr[-3000:]}"
        )
    stamp_path.write_text(stamp)
    return out


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


# ----------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class FileCoverage:
    """Statements of one source file (``package/file.go``) and how many ran."""

    file: str
    package: str
    statements: int
    covered: int

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.statements if self.statements else 0.0

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "package": self.package,
            "statements": self.statements,
            "covered": self.covered,
            "percent": round(self.percent, 2),
        }


@dataclass(frozen=True)
class Profile:
    """Statement coverage of one profile, restricted to the counted packages."""

    files: tuple[FileCoverage, ...]

    @property
    def statements(self) -> int:
        return sum(f.statements for f in self.files)

    @property
    def covered(self) -> int:
        return sum(f.covered for f in self.files)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.statements if self.statements else 0.0

    def packages(self) -> list[FileCoverage]:
        """Per-package totals (``file`` is the package path)."""
        agg: dict[str, list[int]] = {}
        for f in self.files:
            a = agg.setdefault(f.package, [0, 0])
            a[0] += f.statements
            a[1] += f.covered
        return [FileCoverage(p, p, s, c) for p, (s, c) in sorted(agg.items())]


def parse_profile(text: str, counts: Callable[[str], bool] = lambda _p: True) -> Profile:
    """Parse a Go text coverage profile (``mode: set`` then ``file:l.c,l.c stmts count``
    lines). A block listed several times (several counter files) counts once, covered if
    any count is positive. ``counts(package)`` selects the packages kept."""
    blocks: dict[tuple[str, str], tuple[int, bool]] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("mode:"):
            continue
        try:
            loc, stmts, count = line.rsplit(" ", 2)
            file, span = loc.rsplit(":", 1)
            ns, hit = int(stmts), int(count) > 0
        except ValueError as e:
            raise ValueError(
                f"coverage profile line {n}: expected 'file:l.c,l.c stmts count', got {line!r}"
            ) from e
        key = (file, span)
        old = blocks.get(key)
        blocks[key] = (ns, hit or (old is not None and old[1]))
    per: dict[str, list[int]] = {}
    for (file, _span), (ns, hit) in blocks.items():
        a = per.setdefault(file, [0, 0])
        a[0] += ns
        a[1] += ns if hit else 0
    files = []
    for file, (s, c) in sorted(per.items()):
        package = file.rsplit("/", 1)[0]
        if counts(package):
            files.append(FileCoverage(file, package, s, c))
    return Profile(tuple(files))


def profile_of_dir(covdir: Path, counts: Callable[[str], bool]) -> Profile:
    """Coverage of a GOCOVERDIR-style folder (meta + counter files) via ``go tool covdata``."""
    go = _go()
    with tempfile.TemporaryDirectory(prefix="promfuzz-cov-") as tmp:
        out = Path(tmp) / "profile.txt"
        r = subprocess.run(
            [go, "tool", "covdata", "textfmt", "-i", str(covdir), "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if r.returncode != 0 or not out.exists():
            raise CoverageBuildError(f"go tool covdata textfmt -i {covdir} failed: {r.stderr[-2000:]}")
        return parse_profile(out.read_text(), counts)


# ----------------------------------------------------------------------------- report


@dataclass(frozen=True)
class CoverageSample:
    """Coverage reached after ``t_s`` seconds and ``queries`` queries."""

    t_s: float
    queries: int
    covered: int
    statements: int

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.statements if self.statements else 0.0

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "t_s": round(self.t_s, 2),
            "queries": self.queries,
            "covered": self.covered,
            "statements": self.statements,
            "percent": round(self.percent, 2),
        }


@dataclass(frozen=True)
class CoverageReport:
    """Statement coverage of one engine's packages reached by one source in a budget."""

    engine: str
    source: str
    seed: int
    budget_s: float
    elapsed_s: float
    queries: int
    datasets: int
    packages: str
    statements: int
    covered: int
    files: tuple[FileCoverage, ...]
    package_rows: tuple[FileCoverage, ...]
    samples: tuple[CoverageSample, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.statements if self.statements else 0.0

    def without_generated(self) -> tuple[int, int]:
        """(covered, statements) without generated protobuf code (``*.pb.go``), which
        MQE's planning packages are full of and no query reaches."""
        fs = [f for f in self.files if not f.file.endswith(".pb.go")]
        return sum(f.covered for f in fs), sum(f.statements for f in fs)

    def to_json_obj(self) -> dict[str, Any]:
        cov_ng, stmts_ng = self.without_generated()
        return {
            "without_pb_go": {
                "covered": cov_ng,
                "statements": stmts_ng,
                "percent": round(100.0 * cov_ng / stmts_ng, 2) if stmts_ng else 0.0,
            },
            "engine": self.engine,
            "source": self.source,
            "seed": self.seed,
            "budget_s": self.budget_s,
            "elapsed_s": round(self.elapsed_s, 2),
            "queries": self.queries,
            "datasets": self.datasets,
            "packages": self.packages,
            "statements": self.statements,
            "covered": self.covered,
            "percent": round(self.percent, 2),
            "per_package": [p.to_json_obj() for p in self.package_rows],
            "per_file": [f.to_json_obj() for f in self.files],
            "samples": [s.to_json_obj() for s in self.samples],
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_json_obj(), indent=2, sort_keys=True)

    def table(self, max_files: int = 40) -> str:
        """A plain-text table: headline, packages, the largest files, samples over time."""
        lines = [
            f"coverage of {self.packages} by {self.source} on {self.engine} "
            f"(seed {self.seed}, budget {self.budget_s:g}s, ran {self.elapsed_s:.1f}s, "
            f"{self.queries} queries on {self.datasets} datasets)",
            f"TOTAL {self.covered}/{self.statements} statements = {self.percent:.2f}%",
            "without generated *.pb.go: {}/{} = {:.2f}%".format(
                *self.without_generated(),
                100.0 * self.without_generated()[0] / max(1, self.without_generated()[1]),
            ),
            "",
            f"{'package':<72} {'stmts':>7} {'covered':>8} {'%':>7}",
        ]
        for p in self.package_rows:
            lines.append(f"{p.file:<72} {p.statements:>7} {p.covered:>8} {p.percent:>6.1f}%")
        lines += ["", f"{'file (largest first)':<72} {'stmts':>7} {'covered':>8} {'%':>7}"]
        for f in sorted(self.files, key=lambda f: (-f.statements, f.file))[:max_files]:
            lines.append(f"{_short(f.file):<72} {f.statements:>7} {f.covered:>8} {f.percent:>6.1f}%")
        if self.samples:
            lines += ["", f"{'t (s)':>8} {'queries':>9} {'%':>7}"]
            for s in self.samples:
                lines.append(f"{s.t_s:>8.1f} {s.queries:>9} {s.percent:>6.2f}%")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _short(file: str) -> str:
    for prefix in (
        "github.com/prometheus/prometheus/",
        "github.com/grafana/mimir/pkg/",
        "github.com/thanos-io/",
    ):
        if file.startswith(prefix):
            return file[len(prefix) :]
    return file


# ----------------------------------------------------------------------------- hosts


class CoverageHost:
    """A running coverage build of a host, with snapshots of its counters.

    Snapshots go to fresh folders through hostkit's ``/coverage/flush?dir=...`` (meta-data
    and counters), so coverage is read while the host runs; :meth:`finish` takes the last
    snapshot and closes the host (stdin EOF)."""

    def __init__(self, spec: CoverSpec, binary: Path, workdir: Path) -> None:
        self.spec = spec
        self.workdir = workdir
        self.process = HostProcess(binary, host_name=f"cover-{spec.binary}", build_hint="build_coverage_host")
        self.process.start()
        self.snapshots: list[tuple[float, int, Path]] = []

    def engine(self, name: str) -> HostEngine:
        return HostEngine(self.process, name, default_timeout_s=QUERY_TIMEOUT_S)

    def snapshot(self, t_s: float, queries: int) -> Path:
        d = self.workdir / f"snap-{len(self.snapshots):04d}"
        r = self.process.request("POST", "/coverage/flush", 120.0, data={"dir": str(d)})
        if r.status_code != 200:
            raise CoverageBuildError(f"/coverage/flush answered {r.status_code}: {r.text[:300]}")
        self.snapshots.append((t_s, queries, d))
        return d

    def finish(self, t_s: float, queries: int) -> Path:
        if self.snapshots and self.snapshots[-1][1] == queries:
            d = self.snapshots[-1][2]  # nothing ran since the last snapshot
        else:
            d = self.snapshot(t_s, queries)
        self.process.close()
        return d

    def close(self) -> None:
        self.process.close()

    def samples(self) -> tuple[list[CoverageSample], Profile]:
        """Coverage of every snapshot (cumulative) and the profile of the last one."""
        out: list[CoverageSample] = []
        last = Profile(())
        for t_s, q, d in self.snapshots:
            last = profile_of_dir(d, self.spec.counts)
            out.append(CoverageSample(t_s, q, last.covered, last.statements))
        return out, last


# ----------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Batch:
    """One dataset and the queries (with parameters) to run on it."""

    dataset: Dataset
    queries: tuple[tuple[str, EvalParams], ...]


def promfuzz_batches(seed: int, per: int = QUERIES_PER_DATASET) -> Iterator[Batch]:
    """The generator's datasets and queries, ``per`` queries per dataset, forever."""
    from promfuzz.generators.cases import generate_dataset_with_queries

    i = 0
    while True:
        b = generate_dataset_with_queries(f"{seed}:{i}", per)
        yield Batch(b.dataset, tuple((q.text, p) for q, p in zip(b.queries, b.params, strict=True)))
        i += 1


class SmithGenerator:
    """promqlsmith queries from a (plain) Mimir host's ``/generate`` endpoint."""

    def __init__(self, build_dir: str | Path | None = None) -> None:
        bdir = Path(build_dir) if build_dir is not None else default_build_dir()
        self.process = HostProcess(bdir / GENERATOR_BINARY, host_name=f"{GENERATOR_BINARY}-generate")
        self.process.start()

    def generate(self, dataset: Dataset, seed: int, n: int, kind: str = "mixed") -> list[tuple[str, str]]:
        """``n`` (query, kind) pairs over ``dataset``'s series; kind is instant or range."""
        body, fp = dataset_body(dataset)
        self.process.load(dataset, fp, engine="generate", body=body)
        r = self.process.request(
            "POST", "/generate", 60.0, data={"seed": str(seed), "n": str(n), "kind": kind}
        )
        obj = r.json()
        if r.status_code != 200 or obj.get("status") != "success":
            raise EngineError(f"/generate answered {r.status_code}: {r.text[:300]}")
        return [(str(q["query"]), str(q["kind"])) for q in obj["queries"]]

    def close(self) -> None:
        self.process.close()


def smith_batches(seed: int, generator: SmithGenerator, per: int = QUERIES_PER_DATASET) -> Iterator[Batch]:
    """promqlsmith's queries on the generator's datasets (the same datasets as
    :func:`promfuzz_batches` for the same seed), with generated evaluation parameters:
    instant queries get an instant evaluation, range queries a range."""
    from promfuzz.generators.cases import generate_dataset_with_queries
    from promfuzz.generators.choices import RandomChoices
    from promfuzz.generators.params import ParamsConfig, generate_params
    from promfuzz.generators.schema import DatasetSchema

    i = 0
    while True:
        ds = generate_dataset_with_queries(f"{seed}:{i}", 0).dataset
        schema = DatasetSchema.from_dataset(ds)
        choices = RandomChoices(f"{seed}:{i}:smith-params")
        out = []
        for text, kind in generator.generate(ds, seed * 100_003 + i, per):
            cfg = ParamsConfig(instant_p=1.0 if kind == "instant" else 0.0)
            out.append((text, generate_params(choices, schema, cfg)))
        yield Batch(ds, tuple(out))
        i += 1


def upstream_batches(files: Sequence[Path]) -> Iterator[Batch]:
    """The eval commands of promqltest files as batches (consecutive evals over the same
    data share one batch), for differential runs of the upstream testdata. Unreadable
    files are skipped."""
    from promfuzz.corpus.promqltest import read_test_file
    from promfuzz.errors import PromfuzzError

    for f in files:
        try:
            tf = read_test_file(f)
        except PromfuzzError:
            continue
        cur: Dataset | None = None
        items: list[tuple[str, EvalParams]] = []
        for ds, ev in tf.evals():
            if cur is not None and ds is not cur and items:
                yield Batch(cur, tuple(items))
                items = []
            cur = ds
            items.append((ev.query, ev.eval_params))
        if cur is not None and items:
            yield Batch(cur, tuple(items))


def upstream_files(module: str) -> list[Path]:
    """The promqltest ``*.test`` files of the Prometheus module a host selects (upstream
    v0.316.0 for ``prometheus``; Mimir's fork for ``mimir-prometheus``)."""
    from promfuzz.promql.testdata import _modcache, testdata_dir

    if module == "prometheus":
        d = testdata_dir()
    else:
        mc = _modcache()
        found = sorted((mc / "github.com" / "grafana").glob("mimir-prometheus@*")) if mc else []
        d = found[-1] / "promql" / "promqltest" / "testdata" if found else None
    if d is None or not d.is_dir():
        raise ConfigError(
            f"promqltest testdata of {module} not found in the Go module cache (build the hosts first)"
        )
    return sorted(d.glob("*.test"))


# ----------------------------------------------------------------------------- run


def run_coverage(
    engine: str,
    source: str,
    budget_s: float,
    seed: int = 0,
    *,
    sample_every_s: float = 30.0,
    build_dir: str | Path | None = None,
) -> CoverageReport:
    """Statement coverage of ``engine``'s packages (``prometheus``: Prometheus's
    ``promql/...``; ``mqe``: Mimir's ``pkg/streamingpromql/...``; ``thanos``) reached by
    ``source`` (``promfuzz``, ``promqlsmith``, ``upstream``) within ``budget_s`` seconds.
    The host is a coverage build (:func:`build_coverage_host`); coverage is sampled every
    ``sample_every_s`` seconds and at the end."""
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    spec = spec_for_engine(engine)
    binary = build_coverage_host(spec.binary, build_dir=build_dir)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="promfuzz-coverage-") as tmp:
        host = CoverageHost(spec, binary, Path(tmp))
        generator: SmithGenerator | None = None
        t0 = time.monotonic()
        queries = datasets = 0
        next_sample = sample_every_s
        try:
            eng = host.engine(engine)
            if source == "upstream":
                from promfuzz.corpus.replay import replay

                files = upstream_files(spec.testdata_module)
                done = 0
                for f in files:
                    if time.monotonic() - t0 >= budget_s:
                        break
                    rep = replay([f], eng)
                    done += 1
                    datasets += 1
                    queries += sum(len(fr.outcomes) for fr in rep.files)
                    if time.monotonic() - t0 >= next_sample:
                        host.snapshot(time.monotonic() - t0, queries)
                        next_sample += sample_every_s
                notes.append(f"replayed {done} of {len(files)} promqltest files of {spec.testdata_module}")
            else:
                if source == "promqlsmith":
                    generator = SmithGenerator(build_dir)
                    batches = smith_batches(seed, generator)
                else:
                    batches = promfuzz_batches(seed)
                for batch in batches:
                    if time.monotonic() - t0 >= budget_s:
                        break
                    eng.load(batch.dataset)
                    datasets += 1
                    for k in range(0, len(batch.queries), 10):
                        eng.query_many(batch.queries[k : k + 10])
                        queries += len(batch.queries[k : k + 10])
                        now = time.monotonic() - t0
                        if now >= next_sample:
                            host.snapshot(now, queries)
                            next_sample += sample_every_s
                        if now >= budget_s:
                            break
            elapsed = time.monotonic() - t0
            host.finish(elapsed, queries)
        finally:
            host.close()
            if generator is not None:
                generator.close()
        samples, last = host.samples()
    return CoverageReport(
        engine=engine,
        source=source,
        seed=seed,
        budget_s=budget_s,
        elapsed_s=elapsed,
        queries=queries,
        datasets=datasets,
        packages=spec.engine_packages,
        statements=last.statements,
        covered=last.covered,
        files=last.files,
        package_rows=tuple(last.packages()),
        samples=tuple(samples),
        notes=tuple(notes),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m promfuzz.benchmarks.coverage --engine prometheus --source promfuzz --budget 60``"""
    ap = argparse.ArgumentParser(
        prog="promfuzz bench coverage", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    ap.add_argument("--engine", default="prometheus", help="prometheus, mqe or thanos")
    ap.add_argument("--source", default="promfuzz", choices=SOURCES)
    ap.add_argument("--budget", type=float, default=60.0, help="seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-every", type=float, default=30.0, help="seconds between coverage samples")
    ap.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    ap.add_argument("--build-only", action="store_true", help="only build the coverage host")
    args = ap.parse_args(argv)
    if args.build_only:
        print(build_coverage_host(args.engine))
        return 0
    rep = run_coverage(args.engine, args.source, args.budget, args.seed, sample_every_s=args.sample_every)
    print(rep.table())
    if args.json is not None:
        args.json.write_text(rep.to_json() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
