"""Engine names -> engines.

Known names:

=====================  ======================================  =========================
name                   what                                    binary (under ``.build/``)
=====================  ======================================  =========================
``prometheus``         upstream Prometheus engine (in-process)  ``prometheus-host``
``mqe``                Mimir's streaming engine                 ``mimir-host``
``mimir-prometheus``   Mimir fork's Prometheus engine           ``mimir-host``
``thanos``             Thanos promql-engine                     ``thanos-host``
``thanos-prometheus``  the Prometheus engine Thanos pins         ``thanos-host``
``prometheus-live``    a real Prometheus server, remote write   ``prometheus-server``
``mimir-live``         a real Mimir monolith, query-frontend    ``mimir-server``
``http:<url>``         any Prometheus-compatible URL            -- (``?loader=remote_write``
                                                                 ``|victoriametrics_import|none``)
=====================  ======================================  =========================

Every name is an engine spec, ``FAMILY[[OPTION,...]]`` (:mod:`promfuzz.engines.spec`,
docs/engines.md): ``mqe[passes=all]``, ``thanos[optimizers=none]``,
``prometheus[lookback=30s]``; the engine's ``name`` is the normalized spec and its
``family`` the part before ``[``. Options reach the host as ``--option KEY=VALUE``.

An :class:`EngineRegistry` shares one host process between engines of the same host and
the same options (``mqe`` and ``mimir-prometheus`` run over one storage, loaded once). ``open_engine``
opens a single engine that owns its process. The build dir is ``$PROMFUZZ_BUILD_DIR``,
else ``.build`` at the repository root.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from promfuzz.engines.base import Engine, EngineInfo
from promfuzz.engines.host import HostEngine, HostProcess
from promfuzz.engines.http import LOADERS, HttpEngine
from promfuzz.engines.live import LiveEngine, binary_versions
from promfuzz.engines.spec import FAMILIES, EngineSpec, describe_options, known_families, parse_spec
from promfuzz.errors import ConfigError


@dataclass(frozen=True)
class HostSpec:
    binary: str
    engine: str
    args: tuple[str, ...] = ()  # extra host arguments (a different engine configuration)


# The option-less host engines by family (benchmarks and tools that take a plain family).
HOST_ENGINES: dict[str, HostSpec] = {
    f.name: HostSpec(f.binary, f.host_engine, f.host_args) for f in FAMILIES.values() if f.kind == "host"
}
LIVE_ENGINES: dict[str, str] = {f.name: f.binary for f in FAMILIES.values() if f.kind == "live"}
VERSION_MODULES = ("prometheus/prometheus", "grafana/mimir", "thanos-io/promql-engine")


def known_engine_names() -> list[str]:
    return known_families()


def resolve_reference(reference: str, target: str) -> str:
    """``--reference auto``: the Prometheus engine of the target's own build
    (``mimir-prometheus`` for mqe, ``thanos-prometheus`` for thanos, ``prometheus``
    otherwise), with the target's lookback and delayed-name-removal options, so both sides
    run the same semantics. Any other reference is returned normalized."""
    if reference != "auto":
        return reference if reference.startswith("http:") else parse_spec(reference).name
    if split_target_name(target)[1].startswith("http:"):
        return "prometheus"
    tspec = parse_spec(target)
    fam = tspec.family_def
    assert fam is not None
    ref = FAMILIES[fam.same_build_reference]
    shared = {k: v for k, v in tspec.options if k in ("lookback", "delayed_name_removal") and ref.option(k)}
    base = ref.name
    if tspec.revision and ref.binary == fam.binary:  # mqe@REV -> mimir-prometheus@REV: the same build
        base = f"{ref.name}@{tspec.revision}"
    return parse_spec(base).with_options(shared).name


def spec_with_lookback(name: str, lookback_ms: int | None) -> str:
    """The engine spec ``name`` running under lookback ``lookback_ms`` (None: as given):
    how a case's ``EvalParams.lookback_ms`` reaches an engine (its ``lookback`` option)."""
    if lookback_ms is None or name.startswith("http:"):
        return name
    from promfuzz.engines.spec import format_duration_ms

    spec = parse_spec(name)
    fam = spec.family_def
    if fam is None or fam.option("lookback") is None:
        raise ConfigError(f"engine {name!r} has no lookback option; the case needs lookback {format_duration_ms(lookback_ms)}")
    inner = spec.name[len(spec.family) + 1 : -1] if spec.name != spec.family else ""
    items = [i for i in inner.split(",") if i and not i.startswith("lookback=")]
    items.append(f"lookback={format_duration_ms(lookback_ms)}")
    return parse_spec(f"{spec.family}[{','.join(items)}]").name


def resolve_campaign_reference(targets: tuple[str, ...] | list[str]) -> str:
    """``--reference auto`` for a campaign: the one same-build reference of all targets;
    targets of different builds need separate runs (a campaign has one reference)."""
    refs = {t: resolve_reference("auto", t) for t in targets}
    distinct = sorted(set(refs.values()))
    if len(distinct) > 1:
        pairs = ", ".join(f"{t} -> {r}" for t, r in refs.items())
        raise ConfigError(
            f"--reference auto: the targets come from different builds ({pairs}); run them "
            f"separately, or name one reference with --reference"
        )
    return distinct[0] if distinct else "prometheus"


def default_build_dir() -> Path:
    env = os.environ.get("PROMFUZZ_BUILD_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".build"


_NAMED_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(http:.*)$")

HTTP_OPTIONS = ("profile", "isolation", "concurrency", "timeout", "dataset_timeout", "loader", "write_url", "read_url")


def split_target_name(text: str) -> tuple[str | None, str]:
    """``vm=http:http://host:8428`` -> (``vm``, ``http:http://host:8428``); other specs
    -> (None, spec). The name is what reports, the corpus and rules see."""
    m = _NAMED_RE.match(text.strip())
    return (m.group(1), m.group(2)) if m else (None, text)


def http_options(url: str) -> tuple[str, dict[str, Any]]:
    """Take promfuzz's own parameters (``profile=``, ``isolation=``, ``concurrency=``,
    ``timeout=`` seconds per request, ``dataset_timeout=`` seconds per load) out of a
    target URL; the rest of the query string stays in the URL."""
    from promfuzz.engines.profiles import PROFILES

    parts = urlsplit(url)
    kept: list[tuple[str, str]] = []
    opts: dict[str, Any] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if k == "profile":
            if v not in PROFILES:
                raise ConfigError(f"target {url!r}: unknown profile {v!r}; known: {', '.join(PROFILES)}")
            opts["profile"] = v
        elif k == "isolation":
            opts["isolation"] = v
        elif k in ("concurrency", "timeout", "dataset_timeout"):
            try:
                num = float(v)
            except ValueError:
                raise ConfigError(f"target {url!r}: {k}={v!r} is not a number") from None
            if num <= 0:
                raise ConfigError(f"target {url!r}: {k} must be positive")
            key = {"concurrency": "concurrency", "timeout": "default_timeout_s", "dataset_timeout": "dataset_timeout_s"}[k]
            opts[key] = int(num) if k == "concurrency" else num
        else:
            kept.append((k, v))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), "")), opts


def target_isolation(target: str) -> str | None:
    """How an http: target spec isolates datasets (None: not an http: target; servers the
    suite starts get a fresh server per dataset)."""
    from promfuzz.engines.profiles import get_profile

    spec = split_target_name(target)[1]
    if not spec.startswith("http:"):
        return None
    url, _ = parse_http_name(spec)
    _, opts = http_options(url)
    return str(opts.get("isolation") or get_profile(str(opts.get("profile", "generic"))).isolation)


def check_isolation(targets: tuple[str, ...] | list[str], shared_target: bool) -> None:
    """A campaign (and its shrinking) needs every target isolated between datasets:
    a one-line :class:`ConfigError` for a target without isolation, unless shared."""
    for t in targets:
        if target_isolation(t) == "none" and not shared_target:
            raise ConfigError(
                f"target {t!r} has no isolation between datasets (profile generic): every dataset and "
                f"shrink candidate would be judged on the union of all earlier data; give it a profile "
                f"with isolation (?profile=victoriametrics|prometheus|mimir|cortex|thanos, or "
                f"?isolation=delete|tenant), or pass --shared-target (one dataset, no shrinking)"
            )


def parse_http_name(name: str) -> tuple[str, str]:
    """``http:http://host:9090/prefix?loader=none`` -> (``http://host:9090/prefix``, ``none``).
    ``http:`` may be followed by the URL with or without its scheme ``http(s)://``."""
    rest = name[len("http:") :]
    if rest.startswith("//"):  # http://host written as the name itself
        rest = "http:" + rest
    if not rest.startswith(("http://", "https://")):
        raise ConfigError(f"engine {name!r}: expected http:<url> with an http:// or https:// URL")
    parts = urlsplit(rest)
    query = parse_qsl(parts.query, keep_blank_values=True)
    loader = "remote_write"
    kept = []
    for k, v in query:
        if k == "loader":
            loader = v
        else:
            kept.append((k, v))
    if loader not in LOADERS:
        raise ConfigError(f"engine {name!r}: unknown loader {loader!r}; known: {', '.join(LOADERS)}")
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))
    return url, loader


def split_write_url(url: str) -> tuple[str, str | None]:
    """Take a ``write_url=<url>`` parameter out of a target URL (where remote write goes
    when it is not ``<url>/api/v1/write``, e.g. Mimir's ``/api/v1/push``)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    write = [v for k, v in query if k == "write_url"]
    kept = [(k, v) for k, v in query if k != "write_url"]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), "")), (write[-1] if write else None)


class EngineRegistry:
    """Opens engines by name, one host process per host binary shared between engines."""

    def __init__(self, build_dir: str | os.PathLike[str] | None = None) -> None:
        self.build_dir = Path(build_dir) if build_dir is not None else default_build_dir()
        self._processes: dict[str, HostProcess] = {}
        self._engines: list[Engine] = []

    def process(self, binary: str, args: tuple[str, ...] = ()) -> HostProcess:
        key = " ".join((binary, *args))
        proc = self._processes.get(key)
        if proc is None:
            proc = HostProcess(self.build_dir / binary, host_name=Path(binary).name, extra_args=args)
            self._processes[key] = proc
        return proc

    def open(self, name: str, /, **opts: Any) -> Engine:
        """Open the engine spec ``name`` (see the module docstring); ``opts`` go to its class."""
        eng: Engine
        given_name, name = split_target_name(name)
        if name.startswith("http:"):
            opts.setdefault("name", given_name or name)
            url, loader = parse_http_name(name)
            url, write_url = split_write_url(url)
            url, extra = http_options(url)
            for k, v in extra.items():
                opts.setdefault(k, v)
            if write_url and "write_url" not in opts:
                opts["write_url"] = write_url
            explicit = "loader=" in name
            eng = HttpEngine(url, opts.pop("loader", loader if explicit else None), **opts)
            self._engines.append(eng)
            return eng
        spec = parse_spec(name)
        fam = spec.family_def
        assert fam is not None
        opts.setdefault("name", spec.name)  # a caller may rename the engine (two of one kind)
        if fam.kind == "host":
            eng = HostEngine(self.process(host_binary(spec, self.build_dir), spec.host_args()), fam.host_engine, **opts)
        else:
            if spec.options:
                raise ConfigError(f"engine {name!r}: {fam.name} takes no options")
            eng = _open_live(fam.name, self.build_dir, opts)
        _set_family(eng, spec)
        self._engines.append(eng)
        return eng

    def close(self) -> None:
        for eng in self._engines:
            eng.close()
        for proc in self._processes.values():
            proc.close()
        self._engines.clear()
        self._processes.clear()

    def __enter__(self) -> EngineRegistry:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _revision_rows(fam: Any, bdir: Path) -> list[dict[str, object]]:
    """The FAMILY@REV builds of a family's host (for ``promfuzz engines --json``)."""
    from promfuzz.engines.revisions import built_revisions

    rows = []
    for b in built_revisions(bdir, fam.binary.split("-")[0]):
        m = b.meta
        rows.append({
            "spec": f"{fam.name}@{m.get('revision')}", "revision": m.get("revision"),
            "version": m.get("version") or ("checkout" if str(m.get("revision", "")).startswith("/") else None),
            "module": m.get("module"), "binary": str(b.binary), "built_at": m.get("built_at"),
            "build_seconds": m.get("build_seconds"),
        })
    return rows


def host_binary(spec: EngineSpec, build_dir: Path) -> str:
    """The host binary of a spec: the family's under the build dir, or for ``FAMILY@REV``
    the one built for that revision (built now if it is not yet: promfuzz.engines.revisions)."""
    fam = spec.family_def
    assert fam is not None
    if not spec.revision:
        return fam.binary
    from promfuzz.engines.revisions import Revision, ensure_built

    host = fam.binary.split("-")[0]
    return str(ensure_built(spec.text or spec.name, host, fam.binary, Revision(host, spec.revision), build_dir).binary)


def _open_live(family: str, build_dir: Path, opts: dict[str, Any]) -> Engine:
    """A server the suite starts itself (prometheus-live, victoriametrics-live, mimir-live, thanos-live)."""
    if family == "victoriametrics-live":
        from promfuzz.engines.victoriametrics import VictoriaMetricsLiveEngine, find_binary

        return VictoriaMetricsLiveEngine(find_binary(build_dir), **opts)
    if family == "mimir-live":
        from promfuzz.engines.mimir_live import MimirLiveEngine
        from promfuzz.engines.mimir_live import find_binary as find_mimir

        return MimirLiveEngine(find_mimir(build_dir), **opts)
    if family == "thanos-live":
        from promfuzz.engines.thanos_live import ThanosLiveEngine
        from promfuzz.engines.thanos_live import find_binary as find_thanos

        return ThanosLiveEngine(find_thanos(build_dir), **opts)
    return LiveEngine(build_dir / FAMILIES[family].binary, **opts)


def _set_family(eng: Engine, spec: EngineSpec) -> None:
    """Give the engine its family and effective options (what rules and reports read)."""
    try:
        eng.family = spec.family  # type: ignore[attr-defined]
        eng.spec = spec  # type: ignore[attr-defined]
    except AttributeError:  # a class with __slots__; the name still carries the spec
        pass


def open_engine(name: str, /, *, build_dir: str | os.PathLike[str] | None = None, **opts: Any) -> Engine:
    """One engine that owns its resources (its own host process); close it when done."""
    bdir = Path(build_dir) if build_dir is not None else default_build_dir()
    if not split_target_name(name)[1].startswith("http:"):
        spec = parse_spec(name)
        fam = spec.family_def
        assert fam is not None
        if fam.kind == "host":
            proc = HostProcess(bdir / host_binary(spec, bdir), host_name=fam.binary, extra_args=spec.host_args())
            opts.setdefault("name", spec.name)
            eng = HostEngine(proc, fam.host_engine, owns_process=True, **opts)
            _set_family(eng, spec)
            return eng
    return EngineRegistry(bdir).open(name, **opts)


def available_engines(
    build_dir: str | os.PathLike[str] | None = None, versions: bool = True
) -> list[EngineInfo]:
    """Every named engine, whether its binary is built, and module versions read from the
    binary (``go version -m``; no process is started). For ``promfuzz engines [--json]``."""
    bdir = Path(build_dir) if build_dir is not None else default_build_dir()
    out: list[EngineInfo] = []
    cache: dict[Path, dict[str, str]] = {}

    def info(name: str, kind: str, path: Path) -> EngineInfo:
        built = path.is_file() and os.access(path, os.X_OK)
        vers: dict[str, str] = {}
        if built and versions:
            if path not in cache:
                cache[path] = binary_versions(path, VERSION_MODULES)
            vers = cache[path]
        note = "" if built else "not built: run `make hosts`"
        fam = FAMILIES[name]
        return EngineInfo(
            name, kind, str(path), built, vers, note,  # type: ignore[arg-type]
            options=describe_options(name), reference=fam.same_build_reference,
            revisions=tuple(_revision_rows(fam, bdir)) if kind == "host" else (),
        )

    for fam in FAMILIES.values():
        out.append(info(fam.name, fam.kind, bdir / fam.binary))
    out.append(
        EngineInfo(
            "http:<url>",
            "http",
            None,
            True,
            {},
            "any Prometheus-compatible URL; ?loader=remote_write|victoriametrics_import|none",
            reference="prometheus",
        )
    )
    return out
