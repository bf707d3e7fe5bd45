"""Hosts built per engine revision: ``FAMILY@REVISION`` specs (docs/engines.md).

``mqe@v1.3.1-0.20260423142704-aced80d74930``, ``thanos@<commit>``, ``prometheus@v0.315.0``
build the family's host against that revision of the engine's module, fetched through the
Go module proxy (``go get MODULE@REV``); ``mqe@/home/me/src/mimir`` (any revision that is a
path: it starts with ``/``, ``.`` or ``~``) builds it against a local checkout (a
``replace`` directive). The modules:

==========  ==================================  =============================
host        families                            module
==========  ==================================  =============================
prometheus  prometheus, prometheus-promqltest   github.com/prometheus/prometheus
mimir       mqe, mimir-prometheus               github.com/grafana/mimir
thanos      thanos, thanos-prometheus           github.com/thanos-io/promql-engine
==========  ==================================  =============================

A build goes to ``<build dir>/revs/<host>-<hash>/`` (binary, ``meta.json``, and the
``src/`` module it was built from), where the hash covers the host, the module, the
revision (for a checkout: its path and content state), the host's and hostkit's sources
and the Go version, so a change to any of them builds anew and an unchanged one is reused.
Builds are incremental through Go's own build cache. Concurrent builds of one revision do
not collide: the builder holds ``revs/.locks/<host>-<hash>.lock`` (flock), builds into a scratch
folder and renames it into place; a waiting builder finds the finished folder.

Errors are one line (:class:`RevisionError`): a revision the module proxy does not serve
(with the advice to use a local checkout), a checkout that is not the module (no go.mod,
or another module line), and a revision whose API the host glue does not compile against
(the API the compiler names, and ``hosts/<host>/compat.go``, where that glue lives).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from promfuzz.errors import ConfigError

HOST_MODULES: dict[str, str] = {
    "prometheus": "github.com/prometheus/prometheus",
    "mimir": "github.com/grafana/mimir",
    "thanos": "github.com/thanos-io/promql-engine",
}
HOSTKIT_MODULE = "github.com/promfuzz/promfuzz/hosts/hostkit"
REPO_ROOT = Path(__file__).resolve().parents[2]
HOSTS_DIR = REPO_ROOT / "hosts"
BUILD_TIMEOUT_S = 3600.0
_REV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-/]*$")


class RevisionError(ConfigError):
    """A revision that cannot be built (one line saying why and what was expected)."""


@dataclass(frozen=True)
class Revision:
    """The revision part of a spec: a module version/commit, or a local checkout."""

    host: str  # prometheus | mimir | thanos (the hosts/ folder)
    text: str  # normalized: the version as given, or the checkout's absolute path
    # Set by bisect: what identifies the checkout's content (instead of reading its state).
    identity: str | None = None

    @property
    def module(self) -> str:
        return HOST_MODULES[self.host]

    @property
    def is_checkout(self) -> bool:
        return self.text.startswith("/")

    @property
    def path(self) -> Path:
        return Path(self.text)


def is_path_revision(rev: str) -> bool:
    return rev.startswith(("/", ".", "~"))


def normalize_revision(spec_text: str, host: str, rev: str) -> str:
    """The normalized revision text of a spec (a path made absolute); a one-line
    :class:`ConfigError` when it cannot be a revision."""
    if host not in HOST_MODULES:
        raise ConfigError(
            f"engine {spec_text!r}: revisions (@REV) apply to host families only "
            f"(prometheus, prometheus-promqltest, mqe, mimir-prometheus, thanos, thanos-prometheus)"
        )
    if not rev:
        raise ConfigError(
            f"engine {spec_text!r}: expected a revision after @: a version or commit of "
            f"{HOST_MODULES[host]} (e.g. @v0.316.0, @aced80d74930) or a local checkout (@/path/to/checkout)"
        )
    if is_path_revision(rev):
        return str(Path(rev).expanduser().absolute())
    if not _REV_RE.match(rev) or ".." in rev:
        raise ConfigError(
            f"engine {spec_text!r}: {rev!r} is not a module version, commit or branch of {HOST_MODULES[host]}; "
            f"a local checkout is written as a path (@/path/to/checkout)"
        )
    return rev


# ------------------------------------------------------------------------- go helpers


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env.setdefault("GOTOOLCHAIN", "local")
    # The host module is rewritten freely in its scratch copy.
    env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -mod=mod -buildvcs=false").strip()
    env["GOWORK"] = "off"
    return env


def _go(args: list[str], cwd: Path, timeout: float = BUILD_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["go", *args], cwd=cwd, env=_go_env(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise RevisionError("building a host for a revision needs the go command on PATH (Go 1.26)") from None
    except subprocess.TimeoutExpired:
        raise RevisionError(f"`go {' '.join(args)}` in {cwd} took longer than {timeout:.0f} s") from None


_GO_VERSION: str | None = None


def go_version() -> str:
    global _GO_VERSION
    if _GO_VERSION is None:
        r = _go(["env", "GOVERSION"], REPO_ROOT, timeout=60)
        _GO_VERSION = r.stdout.strip() or "unknown"
    return _GO_VERSION


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("go: downloading", "go: finding", "go: upgraded", "go: added")):
            return line
    return text.strip()


# ------------------------------------------------------------------------ identities


def _source_files(root: Path) -> Iterator[Path]:
    """The files of a host module that a build reads (Go sources, go.mod, go.sum)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")) and d != "testdata")
        for f in sorted(filenames):
            if f.endswith(".go") or f in ("go.mod", "go.sum"):
                yield Path(dirpath) / f


def _tree_hash(*roots: Path) -> str:
    h = hashlib.sha256()
    for root in roots:
        for p in _source_files(root):
            h.update(str(p.relative_to(root.parent)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _checkout_state(path: Path) -> str:
    """What a checkout's content is now: for a git checkout its HEAD, the status and the
    diff against HEAD (and untracked files' sizes and times); otherwise every Go file's
    size and modification time."""
    git = shutil.which("git")
    if git and (path / ".git").exists():
        def run(*a: str) -> str:
            return subprocess.run([git, "-C", str(path), *a], capture_output=True, text=True, check=False).stdout

        head = run("rev-parse", "HEAD").strip()
        status = run("status", "--porcelain", "--untracked-files=all")
        diff = run("diff", "HEAD", "--binary")
        h = hashlib.sha256((head + "\0" + status + "\0" + diff).encode())
        for line in status.splitlines():
            if line.startswith("?? "):
                with contextlib.suppress(OSError):
                    st = (path / line[3:]).stat()
                    h.update(f"{line[3:]}:{st.st_size}:{st.st_mtime_ns}".encode())
        return "git:" + h.hexdigest()
    h = hashlib.sha256()
    for p in _source_files(path):
        st = p.stat()
        h.update(f"{p.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}\0".encode())
    return "files:" + h.hexdigest()


def build_key(rev: Revision) -> str:
    """The folder name of a revision's build: ``<host>-<hash>``."""
    if rev.is_checkout:
        ident = rev.identity or _checkout_state(rev.path)
        what = f"checkout {rev.text} {ident}" if rev.identity is None else f"content {ident}"
    else:
        what = f"version {rev.text}"
    h = hashlib.sha256(
        "\n".join(
            (rev.host, rev.module, what, _tree_hash(HOSTS_DIR / rev.host, HOSTS_DIR / "hostkit"), go_version())
        ).encode()
    )
    return f"{rev.host}-{h.hexdigest()[:16]}"


# ------------------------------------------------------------------------- checkouts


def _mod_json(gomod: Path) -> dict[str, object]:
    r = _go(["mod", "edit", "-json", str(gomod)], gomod.parent, timeout=60)
    if r.returncode != 0:
        raise RevisionError(f"{gomod}: not a readable go.mod: {_first_line(r.stderr)}")
    return dict(json.loads(r.stdout))


def check_checkout(spec_text: str, rev: Revision) -> dict[str, object]:
    """The checkout's go.mod (as ``go mod edit -json``); a one-line error when the path is
    no checkout of the family's module."""
    path, module = rev.path, rev.module
    if not path.is_dir():
        raise RevisionError(
            f"engine {spec_text!r}: {path} is not a directory; expected a local checkout of {module}"
        )
    gomod = path / "go.mod"
    if not gomod.is_file():
        raise RevisionError(
            f"engine {spec_text!r}: {path} has no go.mod: not a Go module; expected a checkout of {module} (its root folder)"
        )
    mod = _mod_json(gomod)
    module_obj = mod.get("Module")
    got = str(module_obj.get("Path", "")) if isinstance(module_obj, dict) else ""
    if got != module:
        raise RevisionError(
            f"engine {spec_text!r}: {path} is module {got or '(none)'}, expected a checkout of {module}"
        )
    return mod


def _replaces(mod: dict[str, object], base: Path | None) -> list[str]:
    """A go.mod's replace directives as ``go mod edit -replace`` arguments (relative
    paths resolved against ``base``, the folder of that go.mod)."""
    out = []
    replaces = mod.get("Replace")
    for r in replaces if isinstance(replaces, list) else []:
        old, new = r["Old"], r["New"]
        lhs = old["Path"] + (f"@{old['Version']}" if old.get("Version") else "")
        if new.get("Version"):
            rhs = f"{new['Path']}@{new['Version']}"
        else:
            target = Path(new["Path"])
            if not target.is_absolute():
                if base is None:
                    continue  # a module zip's relative replace has no meaning outside its repository
                target = (base / target).resolve()
            rhs = str(target)
        if old["Path"] == HOSTKIT_MODULE:
            continue
        out.append(f"-replace={lhs}={rhs}")
    return out


# ------------------------------------------------------------------------------ build


@dataclass(frozen=True)
class BuiltRevision:
    """A finished build: where its binary is and what it was built from."""

    directory: Path
    binary: Path
    meta: dict[str, object]

    def to_json_obj(self) -> dict[str, object]:
        return {**self.meta, "directory": str(self.directory), "binary": str(self.binary)}


def revs_dir(build_dir: Path, namespace: str = "") -> Path:
    """Where revision builds go: ``<build dir>/revs``; bisect's builds of commits of a
    temporary worktree go to ``revs/bisect`` (not reopenable as specs, so not listed)."""
    root = Path(build_dir) / "revs"
    return root / namespace if namespace else root


def _read_built(folder: Path) -> BuiltRevision | None:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    binary = folder / str(meta.get("binary_name", ""))
    if not binary.is_file():
        return None
    return BuiltRevision(folder, binary, meta)


def built_revisions(build_dir: Path, host: str | None = None, namespace: str = "") -> list[BuiltRevision]:
    """Every finished revision build under ``<build dir>/revs`` (of one host, if given),
    oldest first."""
    root = revs_dir(build_dir, namespace)
    out = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            b = _read_built(folder)
            if b is not None and (host is None or b.meta.get("host") == host):
                out.append(b)
    out.sort(key=lambda b: float(b.meta.get("built_at", 0)))  # type: ignore[arg-type]
    return out


@contextlib.contextmanager
def _locked(path: Path, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait:
                on_wait(f"waiting for another build of the same revision ({path.name})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _stderr_progress(msg: str) -> None:
    print(f"promfuzz: {msg}", file=sys.stderr, flush=True)


def ensure_built(
    spec_text: str,
    host: str,
    binary_name: str,
    rev: Revision,
    build_dir: Path,
    *,
    progress: Callable[[str], None] | None = _stderr_progress,
    namespace: str = "",
) -> BuiltRevision:
    """The host of ``rev``, built if it is not yet (see the module doc)."""
    if rev.is_checkout:
        check_checkout(spec_text, rev)
    key = build_key(rev)
    root = revs_dir(build_dir, namespace)
    final = root / key
    done = _read_built(final)
    if done is not None:
        return done
    with _locked(root / ".locks" / f"{key}.lock", progress):
        done = _read_built(final)
        if done is not None:
            return done
        scratch = root / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            if progress:
                progress(f"building the {host} host for {rev.module} {'checkout ' if rev.is_checkout else ''}"
                         f"{rev.text} into {final} (a first build takes minutes)")
            started = time.monotonic()
            meta = _build(spec_text, host, binary_name, rev, scratch)
            meta.update({
                "host": host, "module": rev.module, "revision": rev.text, "binary_name": binary_name,
                "key": key, "built_at": time.time(), "build_seconds": round(time.monotonic() - started, 1),
                "go": go_version(),
            })
            if rev.identity is not None:
                meta["identity"] = rev.identity
            (scratch / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            if final.exists():  # a stale, unfinished folder from a build killed mid-rename
                shutil.rmtree(final)
            os.rename(scratch, final)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    built = _read_built(final)
    assert built is not None
    return built


def _copy_host(host: str, dest: Path) -> None:
    src = HOSTS_DIR / host
    for p in _source_files(src):
        rel = p.relative_to(src)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dest / rel)


def _build(spec_text: str, host: str, binary_name: str, rev: Revision, scratch: Path) -> dict[str, object]:
    src = scratch / "src"
    src.mkdir(parents=True)
    _copy_host(host, src)
    module = rev.module
    edits = [f"-replace={HOSTKIT_MODULE}={HOSTS_DIR / 'hostkit'}"]
    meta: dict[str, object] = {}
    if rev.is_checkout:
        mod = check_checkout(spec_text, rev)
        edits += _replaces(mod, rev.path)
        edits.append(f"-replace={module}={rev.path}")
    else:
        info = _download(spec_text, rev)
        meta["version"] = info["Version"]
        gomod = info.get("GoMod")
        if gomod:
            edits += _replaces(_mod_json(Path(str(gomod))), None)
    r = _go(["mod", "edit", *edits], src)
    if r.returncode != 0:
        raise RevisionError(f"engine {spec_text!r}: go mod edit failed: {_first_line(r.stderr)}")
    if not rev.is_checkout:
        r = _go(["get", f"{module}@{meta['version']}"], src)
        if r.returncode != 0:
            if HOSTKIT_MODULE in r.stderr:  # go get would have to downgrade hostkit's own requirement
                raise RevisionError(
                    f"engine {spec_text!r}: {module}@{meta['version']} is older than what hostkit needs "
                    f"({_hostkit_requirement(module)}, hosts/hostkit/go.mod): hosts compile against that or newer"
                )
            raise RevisionError(
                f"engine {spec_text!r}: {module}@{meta['version']} does not resolve with the host's "
                f"dependencies: {_first_line(r.stderr)}"
            )
    r = _go(["build", "-o", str(scratch / binary_name), "."], src)
    if r.returncode != 0:
        raise RevisionError(compile_error_message(spec_text, host, rev, r.stderr))
    return meta


def _hostkit_requirement(module: str) -> str:
    for line in (HOSTS_DIR / "hostkit" / "go.mod").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts[:1] == [module] and len(parts) > 1:
            return f"{module} {parts[1]}"
    return f"a newer {module}"


def _download(spec_text: str, rev: Revision) -> dict[str, object]:
    """``go mod download -json MODULE@REV``: the resolved version and its go.mod."""
    r = _go(["mod", "download", "-json", f"{rev.module}@{rev.text}"], REPO_ROOT, timeout=600)
    info: dict[str, object] = {}
    with contextlib.suppress(ValueError):
        info = dict(json.loads(r.stdout))
    err = str(info.get("Error") or "") or (r.stderr if r.returncode != 0 else "")
    if err or not info.get("Version"):
        raise RevisionError(not_served_message(spec_text, rev, err or r.stderr))
    return info


def not_served_message(spec_text: str, rev: Revision, err: str) -> str:
    err = _first_line(err)
    reason = "the Go module proxy does not serve it"
    if "unknown revision" in err or "invalid version" in err and "403" not in err and "404" not in err:
        reason = "no such version or commit"
    if "requires go >=" in err or "toolchain" in err:
        reason = "it needs a newer Go than this machine's"
    detail = re.sub(r"reading \S+: ", "", re.sub(r"\s+", " ", err))[:240]
    family = spec_text.split("@", 1)[0]
    hint = ""
    if re.fullmatch(r"[0-9a-f]{7,40}", rev.text):
        # Measured: this machine's proxy refuses every bare commit hash (resolving one needs
        # the origin) but serves full pseudo-versions of commits it has.
        hint = (" or, if the proxy has that commit, its full pseudo-version "
                f"(v0.0.0-YYYYMMDDhhmmss-{rev.text[:12]}, the commit's UTC time)")
    return (
        f"engine {spec_text!r}: revision {rev.text} of {rev.module}: {reason} ({detail}); build from a local "
        f"checkout of that revision instead: {family}@/path/to/{rev.module.rsplit('/', 1)[-1]}{hint}"
    )


_LOC_RE = re.compile(r"^(?P<file>[^\s:]+\.go):(?P<line>\d+)(?::\d+)?: (?P<msg>.*)$")


def api_of(message: str) -> str | None:
    """The API a Go compiler error names (``undefined: pkg.Name``, an unknown field, a
    call with wrong arguments, a method set that does not match)."""
    pats = (
        r"undefined: (?P<api>[\w.]+)",
        r"unknown field (?P<f>\w+) in struct literal of type \*?(?P<t>[\w.\[\]]+)",
        r"undefined \(type \*?(?P<t>[\w.\[\]]+) has no field or method (?P<f>\w+)",
        r"has no field or method (?P<api>\w+)",
        r"(?:not enough|too many) arguments in call to (?P<api>[\w.]+)",
        r"cannot use .* as (?P<api>[\w.*]+) value",
        r"(?P<api>[\w.]+) is not a type",
    )
    for p in pats:
        m = re.search(p, message)
        if m:
            if m.groupdict().get("f"):
                return f"{m.group('t')}.{m.group('f')}"
            return m.group("api")
    return None


def compile_error_message(spec_text: str, host: str, rev: Revision, stderr: str) -> str:
    """One line for a failed ``go build``: the first compiler error, whether it is in the
    host glue (and which API) or in the engine's own packages."""
    first = None
    pkg = ""
    for line in stderr.splitlines():
        if line.startswith("# "):
            pkg = line[2:].strip()
            continue
        m = _LOC_RE.match(line.strip())
        if m:
            first = m
            break
    where = f"{rev.module} {'checkout ' if rev.is_checkout else ''}{rev.text}"
    if first is None:
        return f"engine {spec_text!r}: the {host} host does not build against {where}: {_first_line(stderr)}"
    file = first.group("file")
    msg = first.group("msg")
    in_host = file.startswith("./") or (pkg.startswith("github.com/promfuzz/promfuzz/hosts/") and "/" not in file.lstrip("./"))
    loc = f"{Path(file).name}:{first.group('line')}"
    if in_host and "hosts/hostkit" not in pkg:
        api = api_of(msg)
        what = f"the API {api}" if api else "its API"
        return (
            f"engine {spec_text!r}: the host glue does not compile against {where}: {what} "
            f"({loc}: {msg}); adapt hosts/{host}/compat.go to that revision"
        )
    if "hosts/hostkit" in pkg:
        api = api_of(msg)
        return (
            f"engine {spec_text!r}: hostkit does not compile against the Prometheus version {where} selects: "
            f"{'the API ' + api if api else 'its API'} ({loc}: {msg})"
        )
    return f"engine {spec_text!r}: {pkg or 'a dependency'} does not compile in {where} with the host's dependencies ({loc}: {msg})"
