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
``http:<url>``         any Prometheus-compatible URL            -- (``?loader=remote_write``
                                                                 ``|victoriametrics_import|none``)
=====================  ======================================  =========================

An :class:`EngineRegistry` shares one host process between engines of the same host
(``mqe`` and ``mimir-prometheus`` run over one storage, loaded once). ``open_engine``
opens a single engine that owns its process. The build dir is ``$PROMFUZZ_BUILD_DIR``,
else ``.build`` at the repository root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from promfuzz.engines.base import Engine, EngineInfo
from promfuzz.engines.host import HostEngine, HostProcess
from promfuzz.engines.http import LOADERS, HttpEngine
from promfuzz.engines.live import LiveEngine, binary_versions
from promfuzz.errors import ConfigError, UnknownEngineError


@dataclass(frozen=True)
class HostSpec:
    binary: str
    engine: str
    args: tuple[str, ...] = ()  # extra host arguments (a different engine configuration)


HOST_ENGINES: dict[str, HostSpec] = {
    "prometheus": HostSpec("prometheus-host", "prometheus"),
    # The upstream engine configured like promqltest's test engine, for replaying
    # Prometheus's own .test files (delayed name removal, unquoted UTF-8 names).
    "prometheus-promqltest": HostSpec("prometheus-host", "prometheus-promqltest", ("--promqltest-engine",)),
    "mqe": HostSpec("mimir-host", "mqe"),
    "mimir-prometheus": HostSpec("mimir-host", "mimir-prometheus"),
    "thanos": HostSpec("thanos-host", "thanos"),
    "thanos-prometheus": HostSpec("thanos-host", "thanos-prometheus"),
}
LIVE_ENGINES: dict[str, str] = {"prometheus-live": "prometheus-server"}
VERSION_MODULES = ("prometheus/prometheus", "grafana/mimir", "thanos-io/promql-engine")


def known_engine_names() -> list[str]:
    return [*HOST_ENGINES, *LIVE_ENGINES, "http:<url>"]


def default_build_dir() -> Path:
    env = os.environ.get("PROMFUZZ_BUILD_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".build"


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
            proc = HostProcess(self.build_dir / binary, host_name=binary, extra_args=args)
            self._processes[key] = proc
        return proc

    def open(self, name: str, /, **opts: Any) -> Engine:
        """Open the engine ``name`` (see the module docstring); ``opts`` go to its class."""
        eng: Engine
        opts.setdefault("name", name)  # a caller may rename the engine (two of one kind)
        if name in HOST_ENGINES:
            spec = HOST_ENGINES[name]
            eng = HostEngine(self.process(spec.binary, spec.args), spec.engine, **opts)
        elif name in LIVE_ENGINES:
            eng = LiveEngine(self.build_dir / LIVE_ENGINES[name], **opts)
        elif name.startswith("http:"):
            url, loader = parse_http_name(name)
            url, write_url = split_write_url(url)
            if write_url and "write_url" not in opts:
                opts["write_url"] = write_url
            eng = HttpEngine(url, opts.pop("loader", loader), **opts)
        else:
            raise UnknownEngineError(
                f"unknown engine {name!r}; known engines: {', '.join(known_engine_names())}"
            )
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


def open_engine(name: str, /, *, build_dir: str | os.PathLike[str] | None = None, **opts: Any) -> Engine:
    """One engine that owns its resources (its own host process); close it when done."""
    bdir = Path(build_dir) if build_dir is not None else default_build_dir()
    if name in HOST_ENGINES:
        spec = HOST_ENGINES[name]
        proc = HostProcess(bdir / spec.binary, host_name=spec.binary, extra_args=spec.args)
        opts.setdefault("name", name)
        return HostEngine(proc, spec.engine, owns_process=True, **opts)
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
        return EngineInfo(name, kind, str(path), built, vers, note)  # type: ignore[arg-type]

    for name, spec in HOST_ENGINES.items():
        out.append(info(name, "host", bdir / spec.binary))
    for name, binary in LIVE_ENGINES.items():
        out.append(info(name, "live", bdir / binary))
    out.append(
        EngineInfo(
            "http:<url>",
            "http",
            None,
            True,
            {},
            "any Prometheus-compatible URL; ?loader=remote_write|victoriametrics_import|none",
        )
    )
    return out
