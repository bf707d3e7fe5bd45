"""The :class:`Engine` protocol every engine implements, and small shared helpers.

An engine loads a :class:`~promfuzz.model.Dataset` and answers queries with
:class:`~promfuzz.model.Result` objects. Whatever goes wrong while answering a query
(a crash, a hang, a timeout, a refused connection) is reported *inside* the Result
(outcome ``engine_failure`` or ``timeout``), never raised: the suite compares results,
it does not handle exceptions. Only setup problems (a missing binary, a target that
cannot be reached at all, a dataset the engine refuses to load) raise
:class:`~promfuzz.errors.EngineError` subclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Protocol, Self, runtime_checkable

from promfuzz.errors import EngineError
from promfuzz.model import Dataset, EngineStats, EvalParams, Result

DEFAULT_QUERY_TIMEOUT_S = 10.0
"""Per-query timeout passed to an engine when the caller gives none (the hosts' default)."""


class EngineLoadError(EngineError):
    """An engine refused or failed to load a dataset (a setup problem, not a query result)."""


@dataclass(frozen=True)
class LoadInfo:
    """What a ``load`` did.

    ``reused`` is true when the data was already there (same fingerprint in the same
    process), so nothing was sent. ``load_ns`` is the engine's own figure when it reports
    one, ``wall_ns`` the client's.
    """

    engine: str
    fingerprint: str
    series: int
    floats: int
    histograms: int
    wall_ns: int
    load_ns: int = 0
    reused: bool = False
    notes: tuple[str, ...] = ()  # what a lossy loader could not carry


EngineKind = Literal["host", "live", "http"]


@dataclass(frozen=True)
class EngineInfo:
    """One row of ``promfuzz engines``: what an engine name is and whether it can run here."""

    name: str
    kind: EngineKind
    binary: str | None
    built: bool
    versions: dict[str, str] = field(default_factory=dict)
    note: str = ""
    # option -> {"default", "kind", "doc"[, "choices"]} (promfuzz.engines.spec.describe_options)
    options: dict[str, dict[str, object]] = field(default_factory=dict)
    reference: str = ""  # what --reference auto picks for this engine
    # FAMILY@REV builds under <build dir>/revs (promfuzz.engines.revisions.built_revisions)
    revisions: tuple[dict[str, object], ...] = ()

    def to_json_obj(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "binary": self.binary,
            "built": self.built,
            "versions": dict(self.versions),
            "options": {k: dict(v) for k, v in self.options.items()},
            "reference": self.reference,
            "revisions": [dict(r) for r in self.revisions],
            "note": self.note,
        }


@runtime_checkable
class Engine(Protocol):
    """Anything that can load a dataset and answer PromQL queries."""

    name: str

    def load(self, dataset: Dataset) -> LoadInfo:
        """Replace the engine's data with ``dataset``."""
        ...

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        """Evaluate one query; never raises for a query-time failure."""
        ...

    def query_many(
        self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None
    ) -> list[Result]:
        """Evaluate many queries (batched where the engine can), results in input order."""
        ...

    def versions(self) -> dict[str, str]:
        """Module/program versions behind this engine (for reports)."""
        ...

    def dump(self) -> Dataset | None:
        """Every stored sample read back, or None when the engine cannot tell."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class RawAnswer:
    """One answer whose decoding into a :class:`Result` is deferred until asked for.

    ``digest`` (when the engine gives one, as the Go hosts do) identifies the answer's
    bytes: two answers with equal non-None digests are identical, so a caller can judge
    them equal without decoding either. ``stats`` is always available.
    """

    __slots__ = ("digest", "stats", "bodiless", "_decode", "_result")

    def __init__(
        self, digest: str | None, stats: EngineStats, decode: Callable[[], Result], bodiless: bool = False
    ) -> None:
        self.digest = digest
        self.stats = stats
        self.bodiless = bodiless
        """The engine sent only the digest (asked with ``bodies=False``): :meth:`result`
        has to ask the engine again."""
        self._decode = decode
        self._result: Result | None = None

    @staticmethod
    def of(result: Result) -> RawAnswer:
        a = RawAnswer(None, result.stats, lambda: result)
        a._result = result
        return a

    def result(self) -> Result:
        if self._result is None:
            self._result = self._decode()
        return self._result


class EngineBase:
    """Shared plumbing: context manager, a sequential ``query_many`` and ``query_many_raw``."""

    name: str

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        raise NotImplementedError

    def query_many(
        self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None
    ) -> list[Result]:
        return [self.query(text, params, timeout_s) for text, params in items]

    def query_many_raw(
        self,
        items: Sequence[tuple[str, EvalParams]],
        timeout_s: float | None = None,
        bodies: bool = True,
    ) -> list[RawAnswer]:
        """Like :meth:`query_many`, but decoding may be deferred (see :class:`RawAnswer`).
        ``bodies=False`` lets an engine that gives digests send digests only; engines
        without digests ignore it."""
        return [RawAnswer.of(r) for r in self.query_many(items, timeout_s)]

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def query_params(params: EvalParams, timeout_s: float) -> dict[str, str]:
    """The Prometheus HTTP API parameters for ``params`` (without the query text)."""
    from promfuzz.model import ms_to_api_time

    out: dict[str, str]
    if params.is_range:
        out = {
            "start": ms_to_api_time(params.start_ms),
            "end": ms_to_api_time(params.end_ms),
            "step": format_step(params.step_ms),
        }
    else:
        out = {"time": ms_to_api_time(params.time_ms)}
    out["timeout"] = format_timeout(timeout_s)
    return out


def format_step(step_ms: int) -> str:
    """A range query's step, exact to the millisecond.

    Whole seconds are sent as seconds (``"15"``); anything else as milliseconds
    (``"32474ms"``). Not as float seconds: the Prometheus API (and the engine hosts, which
    parse like it) turns ``"32.474"`` into ``32.474 * 1e9`` ns truncated, 32473999999 ns,
    which the engine truncates again to a 32473 ms interval, so every step after the
    first lands 1 ms early and drifts (found by the range_vs_instants oracle).
    ``model.ParseDuration``, the API's fallback, reads ``"32474ms"`` exactly.
    """
    return str(step_ms // 1000) if step_ms % 1000 == 0 else f"{step_ms}ms"


def format_timeout(timeout_s: float) -> str:
    """A timeout as Prometheus reads it: float seconds (``"10"``, ``"0.25"``)."""
    ms = max(1, round(timeout_s * 1000))
    return f"{ms // 1000}.{ms % 1000:03d}" if ms % 1000 else str(ms // 1000)


def api_path(params: EvalParams) -> str:
    return "/api/v1/query_range" if params.is_range else "/api/v1/query"


def stored_mismatches(
    expected: Dataset, got: Dataset, same: Callable[[object, object], bool], limit: int = 3
) -> list[str]:
    """Where data read back from a target differs from ``expected`` (empty: identical):
    series missing or extra, timestamps lost or added, values for which ``same(sent,
    stored)`` is false (the target's own notion of a faithful copy: VictoriaMetrics keeps
    12 significant digits, Mimir every bit). At most ``limit`` lines."""
    from promfuzz.model import labels_str

    out: list[str] = []
    exp = {s.labels: s for s in expected.series}
    have = {s.labels: s for s in got.series}
    missing = [k for k in exp if k not in have]
    extra = [k for k in have if k not in exp]
    if missing:
        out.append(f"{len(missing)} series not stored (e.g. {labels_str(missing[0])})")
    if extra:
        out.append(f"{len(extra)} series stored that the dataset lacks (e.g. {labels_str(extra[0])})")
    for k, s in exp.items():
        g = have.get(k)
        if g is None:
            continue
        et = [x.t for x in s.samples]
        gt = [x.t for x in g.samples]
        if et != gt:
            lost = sorted(set(et) - set(gt))[:3]
            added = sorted(set(gt) - set(et))[:3]
            out.append(f"{labels_str(k)}: {len(et)} samples sent, {len(gt)} stored (missing t={lost}, extra t={added})")
        else:
            bad = [(x.t, x.v, y.v) for x, y in zip(s.samples, g.samples, strict=True) if not same(x.v, y.v)]
            if bad:
                ex = ", ".join(f"t={t}: {v!r} stored as {w!r}" for t, v, w in bad[:3])
                out.append(f"{labels_str(k)}: {len(bad)} values stored changed ({ex})")
        if len(out) >= limit:
            break
    return out


def blame_crash(answers: list[Result], engine: str, what: str, server: object) -> list[Result]:
    """``answers`` with each ``engine_failure`` turned into an ``engine_crash`` naming the
    exit and the log's tail when ``server`` (``alive()``, ``exit_description()``,
    ``log_tail()``) is no longer running; as they are otherwise."""
    if not any(r.outcome == "engine_failure" for r in answers) or server.alive():  # type: ignore[attr-defined]
        return answers
    msg = f"{what} died ({server.exit_description()}). log tail:\n{server.log_tail()}"  # type: ignore[attr-defined]
    return [Result.failure(engine, "engine_failure", "engine_crash", msg, r.stats.wall_ns)
            if r.outcome == "engine_failure" else r for r in answers]

