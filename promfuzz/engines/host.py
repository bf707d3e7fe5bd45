"""Go engine hosts: start, supervise and query them (protocol in docs/host-protocol.md).

:class:`HostProcess` owns one running host binary: it starts it with
``--listen 127.0.0.1:0`` and an open stdin pipe, waits for the JSON ready line, sends
the host's stderr to a log file in a temp dir, and talks to it over one
``requests.Session``. It remembers the fingerprint of the loaded dataset so that several
engines of one host (``mqe`` and ``mimir-prometheus``) load a dataset once.

:class:`HostEngine` is one engine of a host. Supervision:

* a crash while a query runs -> that query's Result is ``engine_failure`` with the exit
  status and the tail of the host's stderr; the next call restarts the host and reloads
  the last dataset;
* no answer within the query timeout plus a grace period -> the host is killed (by PID)
  and the query's Result is ``timeout`` (error class ``host_hang``);
* ``close()`` closes stdin (the host exits on EOF), waits, then kills by PID.

``query_many`` sends chunks to ``/api/v1/batch``; if a chunk crashes or hangs the
host, the chunk is rerun one query at a time so only the culprit gets the failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

from promfuzz.engines.apijson import parse_body, parse_envelope, parse_stats
from promfuzz.engines.base import (
    DEFAULT_QUERY_TIMEOUT_S,
    EngineBase,
    EngineLoadError,
    LoadInfo,
    RawAnswer,
    api_path,
    query_params,
)
from promfuzz.errors import EngineError, HostNotBuiltError
from promfuzz.model import Dataset, EvalParams, Result

DEFAULT_START_TIMEOUT_S = 60.0
DEFAULT_GRACE_S = 5.0
DEFAULT_BATCH_SIZE = 200
LOAD_TIMEOUT_S = 300.0
STDERR_TAIL_BYTES = 3000


class HostStartError(EngineError):
    """A host binary did not start or did not print its ready line in time."""


@dataclass(frozen=True)
class ReadyInfo:
    """The host's ready line."""

    addr: str
    pid: int
    engines: tuple[str, ...]
    modules: dict[str, str]
    go: str
    # engine -> option -> effective value (the host's configuration, defaults filled in)
    configs: dict[str, dict[str, str]] = field(default_factory=dict)

    @staticmethod
    def from_json_obj(d: Mapping[str, Any]) -> ReadyInfo:
        return ReadyInfo(
            addr=str(d["addr"]),
            pid=int(d.get("pid", 0)),
            engines=tuple(d.get("engines") or ()),
            modules={str(k): str(v) for k, v in (d.get("modules") or {}).items()},
            go=str(d.get("go", "")),
            configs={
                str(e): {str(k): str(v) for k, v in (c or {}).items()}
                for e, c in (d.get("configs") or {}).items()
            },
        )


class HostCrashed(Exception):
    """Internal: the host died or stopped answering during a request."""

    def __init__(self, outcome: str, error_type: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.error_type = error_type
        self.message = message


class HostProcess:
    """One running Go engine host, restarted on demand after a crash or a hang."""

    def __init__(
        self,
        binary: str | os.PathLike[str],
        *,
        host_name: str | None = None,
        build_hint: str = "make hosts",
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        grace_s: float = DEFAULT_GRACE_S,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.binary = Path(binary).absolute()
        self.host_name = host_name or self.binary.name
        self.build_hint = build_hint
        self.start_timeout_s = start_timeout_s
        self.grace_s = grace_s
        self.extra_args = tuple(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready: ReadyInfo | None = None
        self._session: requests.Session | None = None
        self._tmpdir: str | None = None
        self._log: IO[bytes] | None = None
        self._log_path: Path | None = None
        self._loaded: Dataset | None = None
        self._loaded_fp: str | None = None
        self._want: Dataset | None = None  # last dataset asked for (reloaded after a restart)
        self._want_fp: str | None = None
        self.restarts = 0
        self._closed = False
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise HostNotBuiltError(
                f"engine host binary {self.binary} is missing: build it with `{build_hint}` "
                f"(from the repository root; needs Go)"
            )

    # ------------------------------------------------------------------ lifecycle
    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.alive() else "stopped"
        return f"HostProcess({self.host_name}, {state})"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def ready(self) -> ReadyInfo:
        self.ensure_running()
        assert self._ready is not None
        return self._ready

    @property
    def base_url(self) -> str:
        return f"http://{self.ready.addr}"

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> ReadyInfo:
        """Start the host (if not running) and wait for its ready line."""
        if self._closed:
            raise EngineError(f"{self.host_name} host was closed")
        if self.alive() and self._ready is not None:
            return self._ready
        self._stop_process()
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix=f"promfuzz-{self.host_name}-")
        self._log_path = Path(self._tmpdir) / f"stderr-{self.restarts}.log"
        self._log = open(self._log_path, "wb")  # noqa: SIM115 -- closed in _stop_process
        argv = [str(self.binary), "--listen", "127.0.0.1:0", *self.extra_args]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                close_fds=True,
            )
        except OSError as e:
            raise HostStartError(f"cannot start {self.binary}: {e}") from e
        self._proc = proc
        lines: queue.Queue[bytes] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=_pump_stdout, args=(proc.stdout, lines, self._log_path), daemon=True).start()
        deadline = time.monotonic() + self.start_timeout_s
        line = b""
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.05)
                break
            except queue.Empty:
                if proc.poll() is not None:
                    # The pump may still hold a last line.
                    with contextlib.suppress(queue.Empty):
                        line = lines.get(timeout=0.2)
                    break
        if not line:
            code = proc.poll()
            self._stop_process()
            why = (
                f"exited with {describe_exit(code)}"
                if code is not None
                else f"no ready line in {self.start_timeout_s:g}s"
            )
            raise HostStartError(f"{self.host_name} host {why}; stderr:\n{self.stderr_tail()}")
        try:
            obj = json.loads(line)
            if not obj.get("ready"):
                raise ValueError("ready is not true")
            self._ready = ReadyInfo.from_json_obj(obj)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            self._stop_process()
            raise HostStartError(f"{self.host_name} host printed a bad ready line {line[:300]!r}: {e}") from e
        self._session = requests.Session()
        self._loaded = None
        self._loaded_fp = None
        return self._ready

    def ensure_running(self) -> bool:
        """Start or restart the host if it is not running; True when it (re)started."""
        if self.alive() and self._ready is not None:
            return False
        if self._proc is not None:
            self.restarts += 1
        self.start()
        return True

    def kill(self) -> None:
        """Kill the host by PID at once (used for hangs and by tests)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    def _stop_process(self, wait_s: float = 5.0) -> None:
        proc = self._proc
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                self.kill()
            if proc.stdout is not None:
                with contextlib.suppress(OSError):
                    proc.stdout.close()
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._ready = None
        self._loaded = None
        self._loaded_fp = None

    def close(self) -> None:
        """Close stdin (the host exits on EOF), wait, then kill by PID; remove the temp dir."""
        if self._closed:
            return
        self._stop_process()
        self._proc = None
        self._closed = True
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> HostProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stderr_tail(self, n: int = STDERR_TAIL_BYTES) -> str:
        if self._log is not None:
            with contextlib.suppress(OSError, ValueError):
                self._log.flush()
        path = self._log_path
        if path is None or not path.exists():
            return ""
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", "replace")

    # ------------------------------------------------------------------ requests
    def request(
        self,
        method: str,
        path: str,
        timeout_s: float,
        **kw: Any,
    ) -> requests.Response:
        """One HTTP request to the running host. A dead or hung host raises
        :class:`HostCrashed` (after killing a hung host); the next call restarts it."""
        self.ensure_running()
        assert self._session is not None and self._ready is not None
        url = f"http://{self._ready.addr}{path}"
        try:
            return self._session.request(method, url, timeout=(5.0, timeout_s), **kw)
        except requests.Timeout as e:
            pid = self.pid
            self.kill()
            tail = self.stderr_tail()
            raise HostCrashed(
                "timeout",
                "host_hang",
                f"{self.host_name} host (pid {pid}) gave no answer within {timeout_s:g}s; killed it. "
                f"stderr tail:\n{tail}",
            ) from e
        except requests.RequestException as e:
            proc = self._proc
            code = None
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = proc.wait(timeout=2)
            if code is None:
                # Alive but not answering properly: treat as a crash, restart next time.
                self.kill()
                code = proc.poll() if proc is not None else None
            raise HostCrashed(
                "engine_failure",
                "engine_crash",
                f"{self.host_name} host crashed ({describe_exit(code)}) during {path}: {type(e).__name__}. "
                f"stderr tail:\n{self.stderr_tail()}",
            ) from e

    def health(self) -> dict[str, Any]:
        r = self.request("GET", "/health", 30.0)
        if r.status_code != 200:
            raise EngineError(f"{self.host_name} host /health answered HTTP {r.status_code}: {r.text[:300]}")
        obj: dict[str, Any] = r.json()
        return obj

    # ------------------------------------------------------------------ data
    @property
    def loaded_fingerprint(self) -> str | None:
        return self._loaded_fp

    def load(
        self, dataset: Dataset, fingerprint: str | None = None, engine: str = "", body: bytes | None = None
    ) -> LoadInfo:
        """Make ``dataset`` the stored data, unless it already is (same fingerprint).
        ``body`` is ``dataset.to_json()`` encoded, when the caller already has it."""
        fp = fingerprint or dataset.fingerprint()
        self._want, self._want_fp = dataset, fp
        t0 = time.perf_counter_ns()
        restarted = self.ensure_running()
        if not restarted and self._loaded_fp == fp:
            return LoadInfo(
                engine or self.host_name,
                fp,
                len(dataset.series),
                _count(dataset, False),
                _count(dataset, True),
                time.perf_counter_ns() - t0,
                reused=True,
            )
        try:
            r = self.request(
                "POST",
                "/load",
                LOAD_TIMEOUT_S,
                data=body if body is not None else dataset.to_json().encode(),
                headers={"Content-Type": "application/json"},
            )
        except HostCrashed as e:
            raise EngineLoadError(f"loading dataset {fp} into {self.host_name}: {e.message}") from e
        wall = time.perf_counter_ns() - t0
        try:
            obj = r.json()
        except ValueError:
            obj = {}
        if r.status_code != 200 or obj.get("status") != "success":
            self._loaded, self._loaded_fp = None, None
            raise EngineLoadError(
                f"{self.host_name} host refused dataset {fp} (HTTP {r.status_code}): "
                f"{obj.get('error') or r.text[:500]}"
            )
        self._loaded, self._loaded_fp = dataset, fp
        return LoadInfo(
            engine or self.host_name,
            fp,
            int(obj.get("series", 0)),
            int(obj.get("floats", 0)),
            int(obj.get("histograms", 0)),
            wall,
            load_ns=int(obj.get("loadNs", 0)),
        )

    def ensure_loaded(self, dataset: Dataset | None, fingerprint: str | None) -> None:
        """Before a query: (re)start if needed and make sure ``dataset`` is the stored one."""
        restarted = self.ensure_running()
        if dataset is None:
            return
        if restarted or self._loaded_fp != fingerprint:
            self.load(dataset, fingerprint)

    def dump(self) -> Dataset:
        if self._want is not None:
            self.ensure_loaded(self._want, self._want_fp)
        try:
            r = self.request("GET", "/dump", LOAD_TIMEOUT_S)
        except HostCrashed as e:
            raise EngineError(f"dumping {self.host_name}: {e.message}") from e
        if r.status_code != 200:
            raise EngineError(f"{self.host_name} host /dump answered HTTP {r.status_code}: {r.text[:300]}")
        return Dataset.from_json(r.text, f"<{self.host_name} /dump>")


def dataset_body(dataset: Dataset) -> tuple[bytes, str]:
    """The ``/load`` body and the dataset's fingerprint (both cached by the dataset)."""
    return dataset.to_json().encode(), dataset.fingerprint()


def _count(dataset: Dataset, histograms: bool) -> int:
    from promfuzz.model import Histogram

    return sum(1 for s in dataset.series for x in s.samples if isinstance(x.v, Histogram) == histograms)


def _pump_stdout(stream: IO[bytes], lines: queue.Queue[bytes], log_path: Path) -> None:
    """First stdout line -> the queue; anything after it (there should be none) -> the log."""
    first = True
    try:
        for line in stream:
            if first:
                lines.put(line)
                first = False
            else:
                with open(log_path, "ab") as f:
                    f.write(b"[stdout] " + line)
    except (OSError, ValueError):
        pass


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class HostEngine(EngineBase):
    """One engine (``prometheus``, ``mqe``, ...) of a :class:`HostProcess`.

    Several HostEngines may share one process; each remembers its own dataset and the
    process reloads only when the fingerprint differs from what it holds.
    """

    def __init__(
        self,
        process: HostProcess,
        engine_name: str,
        *,
        name: str | None = None,
        full_histograms: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        default_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
        owns_process: bool = False,
    ) -> None:
        self.process = process
        self.engine_name = engine_name
        self.name = name or engine_name
        self.full_histograms = full_histograms
        self.batch_size = max(1, batch_size)
        self.default_timeout_s = default_timeout_s
        self.owns_process = owns_process
        self._dataset: Dataset | None = None
        self._fp: str | None = None

    def __repr__(self) -> str:
        return f"HostEngine({self.name!r}, {self.process!r})"

    # -- Engine protocol ------------------------------------------------------------
    def load(self, dataset: Dataset) -> LoadInfo:
        body, fp = dataset_body(dataset)
        self._dataset, self._fp = dataset, fp
        return self.process.load(dataset, fp, engine=self.name, body=body)

    def _prepare(self) -> Result | None:
        try:
            self.process.ensure_loaded(self._dataset, self._fp)
        except EngineError as e:
            return Result.failure(self.name, "engine_failure", "engine_restart", f"host restart failed: {e}")
        return None

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        failed = self._prepare()
        if failed is not None:
            return failed
        timeout = self.default_timeout_s if timeout_s is None else timeout_s
        form = {"query": text, **query_params(params, timeout), "engine": self.engine_name}
        if self.full_histograms:
            form["histograms"] = "full"
        t0 = time.perf_counter_ns()
        try:
            r = self.process.request("POST", api_path(params), timeout + self.process.grace_s, data=form)
        except HostCrashed as e:
            return Result.failure(self.name, e.outcome, e.error_type, e.message, time.perf_counter_ns() - t0)  # type: ignore[arg-type]
        return parse_body(r.content, r.status_code, self.name, time.perf_counter_ns() - t0)

    def query_many(
        self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None
    ) -> list[Result]:
        return [a.result() for a in self.query_many_raw(items, timeout_s)]

    def query_many_raw(
        self,
        items: Sequence[tuple[str, EvalParams]],
        timeout_s: float | None = None,
        bodies: bool = True,
    ) -> list[RawAnswer]:
        """Batched queries whose answers are decoded only when asked (``RawAnswer.result``).

        ``bodies=False``: every answer comes as a digest of its value only (never JSON
        encoded in the host; comparable with other ``bodies=False`` digests only) and is
        ``bodiless``. Asking a bodiless answer for its result runs that one query again."""
        timeout = self.default_timeout_s if timeout_s is None else timeout_s
        out: list[RawAnswer] = []
        for i in range(0, len(items), self.batch_size):
            out.extend(self._batch(items[i : i + self.batch_size], timeout, bodies))
        return out

    def _batch(
        self,
        chunk: Sequence[tuple[str, EvalParams]],
        timeout: float,
        bodies: bool = True,
    ) -> list[RawAnswer]:
        failed = self._prepare()
        if failed is not None:
            return [RawAnswer.of(failed)] * len(chunk)
        queries = [{"query": text, **query_params(params, timeout)} for text, params in chunk]
        # The "lines" format (docs/host-protocol.md): one line per answer, hostStats then
        # a tab then the envelope, so only the envelopes a caller looks at are decoded.
        body: dict[str, Any] = {"engine": self.engine_name, "queries": queries, "format": "lines"}
        if self.full_histograms:
            body["histograms"] = "full"
        if not bodies:
            body["bodies"] = "none"
        try:
            r = self.process.request(
                "POST",
                "/api/v1/batch",
                self.process.grace_s + timeout * len(chunk),
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
        except HostCrashed:
            # Rerun one by one on a fresh host so only the culprit gets the failure.
            return [RawAnswer.of(self.query(text, params, timeout)) for text, params in chunk]
        try:
            lines = r.content.split(b"\n")
            if r.status_code != 200 or len(lines) != len(chunk) + 1 or lines[-1]:
                raise ValueError(f"HTTP {r.status_code}, {len(lines) - 1} answer lines for {len(chunk)} queries")
            return [
                self._raw_line(line, text, params, timeout, bodiless=not bodies)
                for line, (text, params) in zip(lines[:-1], chunk, strict=True)
            ]
        except (ValueError, KeyError, TypeError) as e:
            msg = f"bad /api/v1/batch answer ({e}): {r.text[:300]}"
            return [RawAnswer.of(Result.failure(self.name, "engine_failure", "bad_response", msg))] * len(chunk)

    def _raw_line(
        self, line: bytes, text: str, params: EvalParams, timeout: float, bodiless: bool = False
    ) -> RawAnswer:
        stats_part, tab, env_part = line.partition(b"\t")
        hs = json.loads(stats_part)
        if not tab or not isinstance(hs, dict):
            raise ValueError(f"answer line without hostStats and tab: {line[:200]!r}")
        stats, _ = parse_stats(hs)
        digest = hs.get("digest")

        def decode() -> Result:
            if not env_part:  # a bodiless answer: ask again
                return self.query(text, params, timeout)
            try:
                env = json.loads(env_part)
                if not isinstance(env, dict):
                    raise ValueError(f"answer is not a JSON object: {env_part[:200]!r}")
                env["hostStats"] = hs
                return parse_envelope(env, self.name)
            except ValueError as e:
                return Result.failure(self.name, "engine_failure", "bad_response", str(e))

        return RawAnswer(digest if isinstance(digest, str) else None, stats, decode, bodiless=bodiless)

    def versions(self) -> dict[str, str]:
        info = self.process.ready
        return {**info.modules, "go": info.go, "host": self.process.host_name}

    def config(self) -> dict[str, str]:
        """The engine's effective configuration as its host reports it (option -> value)."""
        return dict(self.process.ready.configs.get(self.engine_name, {}))

    def dump(self) -> Dataset | None:
        if self._dataset is not None:
            self.process.ensure_loaded(self._dataset, self._fp)
        return self.process.dump()

    def close(self) -> None:
        if self.owns_process:
            self.process.close()
