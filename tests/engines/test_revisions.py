"""FAMILY@REV specs: hosts built per revision or local checkout (promfuzz.engines.revisions).

The fast tests check names, keys and the one-line errors without building; the ``hosts``
tests build real hosts into a temporary build dir (the Go build cache makes them
incremental): a revision whose API the host glue does not compile against, a revision the
module proxy refuses (a made-up commit), and a local checkout of promql-engine with one
line changed, whose change shows in an answer.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from engine_checkouts import BUILD, PROMQL_ENGINE, abs_case, break_abs, copy_module, need_go_and_cache

from promfuzz.engines.registry import EngineRegistry, available_engines, resolve_reference
from promfuzz.engines.revisions import (
    Revision,
    RevisionError,
    api_of,
    build_key,
    built_revisions,
    compile_error_message,
    ensure_built,
)
from promfuzz.engines.spec import parse_spec
from promfuzz.errors import ConfigError

# --------------------------------------------------------------------- no build


def test_revision_is_part_of_the_name_and_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = parse_spec("mqe@./mimir[passes=all,lookback=30s]")
    assert s.revision == str(tmp_path / "mimir")
    assert s.name == f"mqe@{tmp_path / 'mimir'}[passes=all,lookback=30s]"
    assert s.family == "mqe"
    assert parse_spec("thanos@v0.0.0-20260513095632-c5f6038078e3").name == "thanos@v0.0.0-20260513095632-c5f6038078e3"
    assert parse_spec("thanos").revision == ""


def test_reference_auto_keeps_the_revision_of_the_same_build() -> None:
    assert resolve_reference("auto", "mqe@v1.2.3[lookback=1m]") == "mimir-prometheus@v1.2.3[lookback=1m]"
    assert resolve_reference("auto", "thanos@/src/pe") == "thanos-prometheus@/src/pe"
    assert resolve_reference("auto", "prometheus@v0.315.0") == "prometheus@v0.315.0"


def test_build_key_changes_with_the_revision_and_the_checkout_content(tmp_path: Path) -> None:
    a = build_key(Revision("thanos", "v1"))
    assert a == build_key(Revision("thanos", "v1")) and a.startswith("thanos-")
    assert a != build_key(Revision("thanos", "v2"))
    co = tmp_path / "co"
    co.mkdir()
    (co / "go.mod").write_text(f"module {PROMQL_ENGINE}\n")
    (co / "x.go").write_text("package x\n")
    k1 = build_key(Revision("thanos", str(co)))
    (co / "x.go").write_text("package x // changed\n")
    assert build_key(Revision("thanos", str(co))) != k1
    # bisect names the content itself: the same content in another folder is one build
    assert build_key(Revision("thanos", "/a", identity="tree:1")) == build_key(Revision("thanos", "/b", identity="tree:1"))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "has no go.mod: not a Go module; expected a checkout of github.com/thanos-io/promql-engine"),
        (lambda p: p / "missing", "is not a directory; expected a local checkout of github.com/thanos-io/promql-engine"),
        (lambda p: (p / "go.mod").write_text("module example.com/other\n") and p,
         "is module example.com/other, expected a checkout of github.com/thanos-io/promql-engine"),
    ],
)
def test_a_checkout_that_is_not_the_module_is_a_one_line_error(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    with pytest.raises(RevisionError) as ei:
        EngineRegistry(tmp_path / "build").open(f"thanos@{path}")
    assert message in str(ei.value) and "\n" not in str(ei.value)
    assert not (tmp_path / "build" / "revs").exists() or not built_revisions(tmp_path / "build")


def test_compile_errors_name_the_api_and_the_glue_file() -> None:
    rev = Revision("mimir", "v9")
    out = ("# github.com/promfuzz/promfuzz/hosts/mimir\n"
           "./compat.go:34:27: undefined: streamingpromql.NewQueryPlanner\n./compat.go:40: other\n")
    msg = compile_error_message("mqe@v9", "mimir", rev, out)
    assert msg == ("engine 'mqe@v9': the host glue does not compile against github.com/grafana/mimir v9: the API "
                   "streamingpromql.NewQueryPlanner (compat.go:34: undefined: streamingpromql.NewQueryPlanner); "
                   "adapt hosts/mimir/compat.go to that revision")
    assert api_of("unknown field EnableFoo in struct literal of type streamingpromql.EngineOpts") == \
        "streamingpromql.EngineOpts.EnableFoo"
    assert api_of("not enough arguments in call to engine.New") == "engine.New"
    assert api_of("opts.UseStartTimestamps undefined (type *promql.EngineOpts has no field or method "
                  "UseStartTimestamps)") == "promql.EngineOpts.UseStartTimestamps"
    dep = compile_error_message("mqe@v9", "mimir", rev, "# github.com/grafana/mimir/pkg/x\n"
                                "/m/pkg/x/a.go:3:1: syntax error: unexpected }\n")
    assert "github.com/grafana/mimir/pkg/x does not compile in github.com/grafana/mimir v9" in dep
    assert "compat.go" not in dep


def test_engines_json_lists_built_revisions(tmp_path: Path) -> None:
    folder = tmp_path / "revs" / "thanos-0123456789abcdef"
    folder.mkdir(parents=True)
    (folder / "thanos-host").write_text("")
    (folder / "meta.json").write_text(json.dumps({
        "host": "thanos", "module": PROMQL_ENGINE, "revision": "v0.0.0-x", "version": "v0.0.0-x",
        "binary_name": "thanos-host", "built_at": 1.0, "build_seconds": 2.0}))
    (tmp_path / "revs" / ".tmp-thanos-unfinished-1").mkdir()  # a build in progress is not listed
    infos = {i.name: i.to_json_obj() for i in available_engines(tmp_path, versions=False)}
    assert [r["spec"] for r in infos["thanos"]["revisions"]] == ["thanos@v0.0.0-x"]  # type: ignore[index]
    assert [r["spec"] for r in infos["thanos-prometheus"]["revisions"]] == ["thanos-prometheus@v0.0.0-x"]  # type: ignore[index]
    assert infos["mqe"]["revisions"] == [] and infos["prometheus-live"]["revisions"] == []


# ------------------------------------------------------------------- real builds


@pytest.mark.hosts
def test_a_revision_the_proxy_refuses_says_so_and_suggests_a_checkout(tmp_path: Path) -> None:
    need_go_and_cache(PROMQL_ENGINE, "thanos")
    with pytest.raises(RevisionError) as ei:
        EngineRegistry(tmp_path).open("thanos@0123456789ab")  # a made-up commit
    msg = str(ei.value)
    assert "revision 0123456789ab of github.com/thanos-io/promql-engine: the Go module proxy does not serve it" in msg
    assert "build from a local checkout of that revision instead: thanos@/path/to/promql-engine" in msg
    assert "\n" not in msg


@pytest.mark.hosts
def test_a_revision_whose_api_the_glue_lacks_names_the_api(tmp_path: Path) -> None:
    # Prometheus v0.308.0 (the version hosts/thanos pins, so it is in the module cache) has
    # no parser.Options/NewParser: the prometheus host's compat.go does not compile there.
    need_go_and_cache("github.com/prometheus/prometheus", "thanos")
    with pytest.raises(RevisionError) as ei:
        EngineRegistry(tmp_path).open("prometheus@v0.308.0")
    msg = str(ei.value)
    assert msg.startswith("engine 'prometheus@v0.308.0': the host glue does not compile against "
                          "github.com/prometheus/prometheus v0.308.0: the API parser.")
    assert "compat.go:" in msg and msg.endswith("adapt hosts/prometheus/compat.go to that revision")
    assert not built_revisions(tmp_path)  # nothing half-built is left as a build
    assert not [p for p in (tmp_path / "revs").iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.hosts
def test_a_revision_older_than_hostkit_needs_says_so(tmp_path: Path) -> None:
    need_go_and_cache("github.com/prometheus/prometheus", "thanos")
    with pytest.raises(RevisionError) as ei:
        EngineRegistry(tmp_path).open("prometheus@v0.305.1")
    assert str(ei.value) == (
        "engine 'prometheus@v0.305.1': github.com/prometheus/prometheus@v0.305.1 is older than what hostkit "
        "needs (github.com/prometheus/prometheus v0.308.0, hosts/hostkit/go.mod): hosts compile against that or newer")


@pytest.mark.hosts
def test_a_local_checkout_builds_and_its_change_shows_in_an_answer(tmp_path: Path) -> None:
    src = need_go_and_cache(PROMQL_ENGINE, "thanos")
    if not (BUILD / "thanos-host").is_file():
        pytest.skip("thanos-host not built (make hosts)")
    checkout = copy_module(src, tmp_path / "promql-engine")
    break_abs(checkout)
    build = tmp_path / "build"
    build.mkdir()
    (build / "thanos-host").symlink_to(BUILD / "thanos-host")  # the pinned host, for the comparison
    ds, query, params = abs_case()
    spec = f"thanos@{checkout}"
    # Two openers at once: one builds, the other waits on the lock and reuses the build.
    errors: list[BaseException] = []

    def build_it() -> None:
        try:
            ensure_built(spec, "thanos", "thanos-host", Revision("thanos", str(checkout)), build, progress=None)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=build_it) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(built_revisions(build)) == 1
    with EngineRegistry(build) as reg:
        pinned, local, ref = reg.open("thanos"), reg.open(spec), reg.open(resolve_reference("auto", spec))
        for e in (pinned, local, ref):
            e.load(ds)
        want = pinned.query(query, params)
        got = local.query(query, params)
        same_build_ref = ref.query(query, params)
    assert [p.v for s in want.series for p in s.points] == [2.5]
    assert [p.v for s in got.series for p in s.points] == [-3.0]  # math.Floor(-2.5)
    assert [p.v for s in same_build_ref.series for p in s.points] == [2.5]  # Prometheus's abs is untouched
    assert local.name == spec
    [row] = [r for i in available_engines(build, versions=False) if i.name == "thanos" for r in i.revisions]
    assert row["revision"] == str(checkout) and row["version"] == "checkout"
    # The same content again: no rebuild (the build folder is reused).
    before = built_revisions(build)[0].meta["built_at"]
    ensure_built(spec, "thanos", "thanos-host", Revision("thanos", str(checkout)), build, progress=None)
    assert built_revisions(build)[0].meta["built_at"] == before


def test_config_error_is_the_base(tmp_path: Path) -> None:
    assert issubclass(RevisionError, ConfigError)
