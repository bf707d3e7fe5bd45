"""The case store: ``<root>/<signature-key>/<case-id>.test`` plus a ``<case-id>.json`` sidecar.

* **Content addressed**: a case's file name is :meth:`promfuzz.model.Case.case_id`; its
  folder is the signature key (:meth:`promfuzz.oracles.verdict.Signature.key`), so one
  folder holds one bug.
* **One case per signature**: adding a case whose signature folder already holds a case
  does not add a file; it increments ``occurrences`` and ``last_seen`` in the existing
  sidecar (atomically) and returns that case.
* **Atomic**: every file is written to a hidden temp file in the same folder, fsynced, then
  ``os.replace``-d over its name; the ``.test`` file goes first and the sidecar last, so a
  case is listed only once both are complete. A run killed at any instant leaves either the
  old state or the new one (plus, at worst, a hidden ``.tmp-*`` file that listing ignores
  and :meth:`CorpusStore.remove_temp_files` deletes). Writers of one folder serialize on
  an ``flock``-ed ``.lock`` file.
* **Sidecar** (JSON): engines and versions, seed, oracle, signature, verdict, first and
  last seen, occurrences, shrink statistics, status (``open`` / ``expected`` / ``fixed``)
  and the exact case (so a query promqltest would flatten is kept verbatim).
* :func:`merge_corpora`: a union of files; the same case on both sides merges its sidecar
  (earliest first_seen, latest last_seen, largest occurrence count, a status other than
  ``open`` wins).

Malformed sidecars or test files raise :class:`~promfuzz.errors.CorpusError` naming the
file and line.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from promfuzz.corpus.promqltest import read_test_file, write_case
from promfuzz.errors import CorpusError, DatasetError, PromQLTestFormatError
from promfuzz.model import Case, Result

Status = Literal["open", "expected", "fixed"]
STATUSES: tuple[Status, ...] = ("open", "expected", "fixed")
SIDECAR_FORMAT = "promfuzz-corpus-case/1"
_KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_ID_RE = re.compile(r"^[0-9a-f]{16}$")


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class CaseMeta:
    """The sidecar of one stored case."""

    case_id: str
    signature_key: str
    case: Case
    signature: Mapping[str, Any] = field(default_factory=dict)
    oracle: str = ""
    verdict: Mapping[str, Any] | None = None
    engines: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    seed: int | str | None = None
    first_seen: str = ""
    last_seen: str = ""
    occurrences: int = 1
    shrink: Mapping[str, Any] = field(default_factory=dict)
    status: Status = "open"
    note: str = ""
    annotations: Mapping[str, tuple[str, ...]] | None = None
    """The stored answer's warnings and infos, exactly (``{"warnings": [...], "infos":
    [...]}``), or None for a case stored before this field or with an error answer. The
    .test file's patterns accept any position and an optional `` for metric name "..."``
    (so the file passes Prometheus's own runner); ``promfuzz replay`` also checks these
    exact texts on the main eval, so an engine that moves an annotation or names the
    metric does not pass."""

    def to_json_obj(self) -> dict[str, Any]:
        out = self._json_obj()
        if self.annotations is not None:
            out["annotations"] = {k: list(v) for k, v in self.annotations.items()}
        return out

    def _json_obj(self) -> dict[str, Any]:
        return {
            "format": SIDECAR_FORMAT,
            "case_id": self.case_id,
            "signature_key": self.signature_key,
            "signature": dict(self.signature),
            "oracle": self.oracle,
            "verdict": dict(self.verdict) if self.verdict is not None else None,
            "engines": {k: dict(v) for k, v in self.engines.items()},
            "seed": self.seed,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "occurrences": self.occurrences,
            "shrink": dict(self.shrink),
            "status": self.status,
            "note": self.note,
            "case": self.case.to_json_obj(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_json_obj(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"

    @staticmethod
    def from_json(text: str, source: str) -> CaseMeta:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise CorpusError(f"invalid JSON: {e.msg}", source, e.lineno, e.colno) from e
        if not isinstance(d, dict):
            raise CorpusError("expected a JSON object (a case sidecar)", source, 1)
        if d.get("format") != SIDECAR_FORMAT:
            raise CorpusError(
                f'expected "format": "{SIDECAR_FORMAT}", found {d.get("format")!r}',
                source,
                _line_of(text, "format"),
            )

        def need(key: str, typ: type | tuple[type, ...], what: str) -> Any:
            v = d.get(key)
            if not isinstance(v, typ) or isinstance(v, bool) and typ is int:
                raise CorpusError(f"field {key!r}: expected {what}, found {v!r}", source, _line_of(text, key))
            return v

        case_id = need("case_id", str, "a 16-hex-digit case id")
        if not _ID_RE.match(case_id):
            raise CorpusError(
                f"field 'case_id': expected 16 hex digits, found {case_id!r}",
                source,
                _line_of(text, "case_id"),
            )
        key = need("signature_key", str, "a signature key")
        if not _KEY_RE.match(key):
            raise CorpusError(
                f"field 'signature_key': expected a folder-safe key, found {key!r}",
                source,
                _line_of(text, "signature_key"),
            )
        status = need("status", str, "open, expected or fixed")
        if status not in STATUSES:
            raise CorpusError(
                f"field 'status': expected open, expected or fixed, found {status!r}",
                source,
                _line_of(text, "status"),
            )
        occ = need("occurrences", int, "a positive integer")
        if occ < 1:
            raise CorpusError(
                f"field 'occurrences': expected a positive integer, found {occ!r}",
                source,
                _line_of(text, "occurrences"),
            )
        raw_case = need("case", dict, "the case object {query, params, dataset}")
        try:
            case = Case.from_json_obj(raw_case, source)
        except DatasetError as e:
            raise CorpusError(f"field 'case': {e.message}", source, _line_of(text, "case")) from e
        except (KeyError, TypeError, ValueError) as e:
            raise CorpusError(
                f"field 'case': expected {{query, params, dataset}} ({e})", source, _line_of(text, "case")
            ) from e
        if case.case_id() != case_id:
            raise CorpusError(
                f"field 'case_id': {case_id} does not match the stored case (content id {case.case_id()})",
                source,
                _line_of(text, "case_id"),
            )
        verdict = d.get("verdict")
        engines = d.get("engines") or {}
        if not isinstance(engines, dict) or not all(isinstance(v, dict) for v in engines.values()):
            raise CorpusError(
                "field 'engines': expected {engine: {module: version}}", source, _line_of(text, "engines")
            )
        seed = d.get("seed")
        if seed is not None and not isinstance(seed, (int, str)):
            raise CorpusError(
                f"field 'seed': expected an integer, a string or null, found {seed!r}",
                source,
                _line_of(text, "seed"),
            )
        return CaseMeta(
            case_id=case_id,
            signature_key=key,
            case=case,
            signature=d.get("signature") or {},
            oracle=str(d.get("oracle") or ""),
            verdict=verdict if isinstance(verdict, dict) else None,
            engines=engines,
            seed=seed,
            first_seen=str(d.get("first_seen") or ""),
            last_seen=str(d.get("last_seen") or ""),
            occurrences=occ,
            shrink=d.get("shrink") or {},
            status=status,  # type: ignore[arg-type]
            note=str(d.get("note") or ""),
            annotations=_annotations_field(d.get("annotations"), source, text),
        )


def _annotations_field(v: Any, source: str, text: str) -> dict[str, tuple[str, ...]] | None:
    if v is None:
        return None
    ok = isinstance(v, dict) and set(v) <= {"warnings", "infos"} and all(
        isinstance(x, list) and all(isinstance(a, str) for a in x) for x in v.values())
    if not ok:
        raise CorpusError('field \'annotations\': expected {"warnings": [text, ...], "infos": [text, ...]}',
                          source, _line_of(text, "annotations"))
    return {k: tuple(v.get(k, ())) for k in ("warnings", "infos")}


def exact_annotations(r: Result | None) -> dict[str, tuple[str, ...]] | None:
    """What :attr:`CaseMeta.annotations` holds for a stored answer (None for an error)."""
    if r is None or not r.ok:
        return None
    return {"warnings": tuple(r.warnings), "infos": tuple(r.infos)}


def _line_of(text: str, key: str) -> int:
    m = re.search(rf'^\s*"{re.escape(key)}"\s*:', text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else 0


@dataclass(frozen=True)
class StoredCase:
    """A case in the store: its sidecar and files."""

    meta: CaseMeta
    test_path: Path
    json_path: Path

    @property
    def case(self) -> Case:
        return self.meta.case


@dataclass(frozen=True)
class AddOutcome:
    stored: StoredCase
    new: bool  # False: the signature was known, its occurrence count went up


# ----------------------------------------------------------------------------- atomic files


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix + ".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- store


def _signature_parts(signature: Any) -> tuple[str, dict[str, Any]]:
    """(key, JSON form) of a Signature object, a signature dict or a plain key string."""
    if isinstance(signature, str):
        return signature, {}
    if isinstance(signature, Mapping):
        from promfuzz.oracles.verdict import Signature

        sig = Signature.from_json_obj(dict(signature))
        return sig.key(), sig.to_json_obj()
    key = getattr(signature, "key", None)
    to_json = getattr(signature, "to_json_obj", None)
    if callable(key) and callable(to_json):
        return str(key()), dict(to_json())
    raise TypeError(f"expected a Signature, a signature dict or a key string, not {type(signature).__name__}")


class CorpusStore:
    """A corpus folder. Cheap to create; every method reads the disk afresh."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # reading ---------------------------------------------------------------------
    def keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and _KEY_RE.match(p.name) and not p.name.startswith(".")
        )

    def _read(self, json_path: Path) -> StoredCase:
        try:
            text = json_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise CorpusError(f"not UTF-8 text: {e}", str(json_path)) from e
        meta = CaseMeta.from_json(text, str(json_path))
        if meta.case_id != json_path.stem:
            raise CorpusError(
                f"sidecar file name {json_path.name} does not match its case_id {meta.case_id}",
                str(json_path),
                _line_of(text, "case_id"),
            )
        if meta.signature_key != json_path.parent.name:
            raise CorpusError(
                f"sidecar is in folder {json_path.parent.name} but names signature_key {meta.signature_key}",
                str(json_path),
                _line_of(text, "signature_key"),
            )
        return StoredCase(meta, json_path.with_suffix(".test"), json_path)

    def entries(self, key: str | None = None) -> Iterator[StoredCase]:
        """Every complete case (sidecar present), sorted by signature key then case id."""
        for k in [key] if key is not None else self.keys():
            folder = self.root / k
            if not folder.is_dir():
                continue
            for jp in sorted(folder.glob("*.json")):
                if jp.name.startswith("."):
                    continue
                yield self._read(jp)

    def __iter__(self) -> Iterator[StoredCase]:
        return self.entries()

    def __len__(self) -> int:
        return sum(1 for _ in self.entries())

    def get(self, case_id: str) -> StoredCase | None:
        for k in self.keys():
            jp = self.root / k / f"{case_id}.json"
            if jp.is_file():
                return self._read(jp)
        return None

    def check(self, entry: StoredCase) -> None:
        """Read the entry's .test file too (raises :class:`CorpusError` when malformed)."""
        try:
            read_test_file(entry.test_path)
        except PromQLTestFormatError as e:
            raise CorpusError(e.message, e.source, e.line, e.column) from e

    def temp_files(self) -> list[Path]:
        return sorted(self.root.glob("*/.tmp-*")) if self.root.is_dir() else []

    def remove_temp_files(self) -> int:
        """Delete leftovers of killed writers (hidden ``.tmp-*`` files); returns how many."""
        n = 0
        for p in self.temp_files():
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
        return n

    # writing ---------------------------------------------------------------------
    def has_signature(self, signature: Any) -> bool:
        """Whether a case is stored under ``signature`` already (an add only counts it)."""
        key, _ = _signature_parts(signature)
        folder = self.root / key
        return folder.is_dir() and any(not p.name.startswith(".") for p in folder.glob("*.json"))

    def add(
        self,
        case: Case,
        signature: Any,
        *,
        expected: Result | None = None,
        oracle: str = "",
        verdict: Mapping[str, Any] | Any | None = None,
        engines: Mapping[str, Mapping[str, str]] | None = None,
        seed: int | str | None = None,
        shrink: Mapping[str, Any] | None = None,
        status: Status = "open",
        note: str = "",
        now: str | None = None,
    ) -> AddOutcome:
        """Store ``case`` under ``signature`` or count one more occurrence of it.

        ``expected`` (the reference engine's answer) is written into the .test file as the
        expected result; ``verdict`` may be a Verdict or its JSON form."""
        key, sig_json = _signature_parts(signature)
        if not _KEY_RE.match(key):
            raise ValueError(f"signature key {key!r} is not folder-safe")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        stamp = now or utc_now()
        folder = self.root / key
        with _folder_lock(folder):
            existing = [jp for jp in sorted(folder.glob("*.json")) if not jp.name.startswith(".")]
            if existing:
                cur = self._read(existing[0])
                meta = replace(
                    cur.meta,
                    occurrences=cur.meta.occurrences + 1,
                    last_seen=max(cur.meta.last_seen, stamp),
                    engines={**cur.meta.engines, **(engines or {})},
                )
                atomic_write(cur.json_path, meta.to_json())
                return AddOutcome(StoredCase(meta, cur.test_path, cur.json_path), new=False)
            to_json = getattr(verdict, "to_json_obj", None)
            vj = to_json() if callable(to_json) else verdict
            meta = CaseMeta(
                case_id=case.case_id(),
                signature_key=key,
                case=case,
                signature=sig_json,
                oracle=oracle or str(sig_json.get("oracle", "")),
                verdict=dict(vj) if isinstance(vj, Mapping) else None,
                engines={k: dict(v) for k, v in (engines or {}).items()},
                seed=seed,
                first_seen=stamp,
                last_seen=stamp,
                occurrences=1,
                shrink=dict(shrink or {}),
                status=status,
                note=note,
                annotations=exact_annotations(expected),
            )
            test_path = folder / f"{meta.case_id}.test"
            json_path = folder / f"{meta.case_id}.json"
            atomic_write(test_path, self._test_text(meta, expected))
            atomic_write(json_path, meta.to_json())
            return AddOutcome(StoredCase(meta, test_path, json_path), new=True)

    @staticmethod
    def _test_text(meta: CaseMeta, expected: Result | None) -> str:
        title = meta.signature.get("category", "") if meta.signature else ""
        comment = f"promfuzz case {meta.case_id}; signature {meta.signature_key}" + (
            f" ({title})" if title else ""
        )
        try:
            return write_case(meta.case, expected, comment=comment)
        except ValueError as e:
            # The sidecar still holds the exact case; the .test file says why it is bare.
            try:
                bare = write_case(meta.case, None, comment=f"{comment}\nexpected result not expressible: {e}")
                # Without an expectation an eval would demand an empty result, which is
                # wrong: keep the eval as a comment (the sidecar holds the exact case).
                return "".join(
                    f"# {line}" if line.startswith("eval") else line for line in bare.splitlines(keepends=True)
                )
            except ValueError as e2:
                return f"# {comment}\n# not expressible as promqltest: {e2}\n"

    def update(self, case_id: str, **changes: Any) -> StoredCase:
        """Change sidecar fields (``status``, ``note``, ``shrink``...) of a stored case."""
        entry = self.get(case_id)
        if entry is None:
            raise KeyError(case_id)
        if "status" in changes and changes["status"] not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with _folder_lock(entry.json_path.parent):
            cur = self._read(entry.json_path)
            meta = replace(cur.meta, **changes)
            atomic_write(cur.json_path, meta.to_json())
        return StoredCase(meta, cur.test_path, cur.json_path)


# ----------------------------------------------------------------------------- merge


@dataclass(frozen=True)
class MergeReport:
    added: int = 0  # cases copied from the source
    merged: int = 0  # cases on both sides whose sidecars were combined
    unchanged: int = 0  # identical on both sides


def _merge_meta(a: CaseMeta, b: CaseMeta) -> CaseMeta:
    firsts = [x for x in (a.first_seen, b.first_seen) if x]
    status = a.status if a.status != "open" else b.status
    return replace(
        a,
        first_seen=min(firsts) if firsts else "",
        last_seen=max(a.last_seen, b.last_seen),
        occurrences=max(a.occurrences, b.occurrences),
        engines={**b.engines, **a.engines},
        status=status,
        shrink=a.shrink or b.shrink,
        note=a.note or b.note,
    )


def merge_corpora(dest: str | os.PathLike[str], *sources: str | os.PathLike[str]) -> MergeReport:
    """Union the cases of ``sources`` into ``dest`` (which may be new)."""
    d = CorpusStore(dest)
    added = merged = unchanged = 0
    for src in sources:
        for entry in CorpusStore(src).entries():
            folder = d.root / entry.meta.signature_key
            with _folder_lock(folder):
                target = folder / entry.json_path.name
                if not target.exists():
                    if entry.test_path.is_file():
                        atomic_write(folder / entry.test_path.name, entry.test_path.read_bytes())
                    atomic_write(target, entry.json_path.read_bytes())
                    added += 1
                    continue
                cur = d._read(target)
                new = _merge_meta(cur.meta, entry.meta)
                if new == cur.meta:
                    unchanged += 1
                else:
                    atomic_write(target, new.to_json())
                    merged += 1
                if not cur.test_path.exists() and entry.test_path.is_file():
                    atomic_write(cur.test_path, entry.test_path.read_bytes())
        from promfuzz.bugs.ledger import merge_ledgers  # corpus/bugs/*.toml: a union too

        merge_ledgers(d.root, src)
    return MergeReport(added, merged, unchanged)
