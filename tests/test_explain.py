"""promfuzz explain: the variants it replays, the conclusion it draws, the CLI, and two
real corpus shapes on the real hosts (a pass that is off by default, one that is on)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from build_helpers import need_binary

from promfuzz.engines.spec import MQE_PASS_DEFAULTS, parse_spec
from promfuzz.explain import Explainer, option_variants, short_answer, upstream_spec
from promfuzz.model import Case, Dataset, EvalParams, Point, Result, ResultSeries, make_labels

CASE = Case(Dataset(()), "a + b", EvalParams.instant(0))


def vector(engine: str, value: float, labels: dict[str, str] | None = None) -> Result:
    return Result(engine, "ok", "vector", (ResultSeries(make_labels(labels or {}), (Point(0, value),)),))


class FakeEngine:
    """Answers by its spec: ``answer(spec) -> float``."""

    def __init__(self, name: str, answer: Callable[[Any], float]) -> None:
        self.name = name
        self.spec = parse_spec(name)
        self.answer = answer
        self.loads = 0
        self.closed = False

    def load(self, ds: Dataset) -> None:
        self.loads += 1

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        return vector(self.name, self.answer(self.spec))

    def versions(self) -> dict[str, str]:
        return {"github.com/prometheus/prometheus": "v0.316.0"} if self.spec.family == "prometheus" else {}

    def close(self) -> None:
        self.closed = True


def fake_explainer(answer: Callable[[Any], float], build_dir: Path | None = None) -> tuple[Explainer, dict[str, FakeEngine]]:
    opened: dict[str, FakeEngine] = {}

    def opener(name: str) -> FakeEngine:
        opened[name] = FakeEngine(name, answer)
        return opened[name]

    return Explainer(opener=opener, build_dir=build_dir or "/nonexistent-build-dir"), opened


def pass_on(name: str) -> Callable[[Any], float]:
    return lambda spec: 1.0 if spec.family == "mqe" and dict(spec.passes)[name] else 0.0


# ------------------------------------------------------------------------ variants


def test_mqe_variants_flip_every_pass_once_then_all_off_and_all_on() -> None:
    vs = option_variants("mqe")
    toggles = [v for v in vs if v.role == "toggle"]
    assert len(toggles) == len(MQE_PASS_DEFAULTS)
    for v in toggles:  # each flips exactly its pass (CSE also takes its dependents along)
        name = v.toggle[1:]
        state, base = dict(parse_spec(v.spec).passes), MQE_PASS_DEFAULTS
        assert state[name] != base[name]
        changed = {p for p in base if state[p] != base[p]}
        if name == "common_subexpression_elimination":
            assert changed == {"common_subexpression_elimination", "multi_aggregation"}
        elif name == "subset_selector_elimination":
            assert changed == {name}  # CSE is on by default already
        else:
            assert changed == {name}
    assert [v.spec for v in vs if v.role != "toggle"] == ["mqe[passes=none]", "mqe[passes=all]"]
    assert "mqe" not in [v.spec for v in vs]
    # Every variant is a valid spec (the planner's CSE constraint holds).
    for v in option_variants("mqe[passes=none,lookback=30s]"):
        assert "lookback=30s" in v.spec
        parse_spec(v.spec)


def test_thanos_variants_are_the_other_optimizer_levels_and_prometheus_has_none() -> None:
    assert [v.spec for v in option_variants("thanos")] == ["thanos[optimizers=none]", "thanos[optimizers=all]"]
    assert [v.spec for v in option_variants("thanos[optimizers=all]")] == ["thanos[optimizers=none]", "thanos"]
    assert option_variants("prometheus") == []


def test_upstream_carries_the_semantics_options_only() -> None:
    assert upstream_spec("mqe[passes=all,lookback=30s]") == "prometheus[lookback=30s]"
    assert upstream_spec("thanos[optimizers=none]") == "prometheus"


def test_short_answer() -> None:
    assert short_answer(vector("e", 2.5, {"a": "1"})) == 'vector 1: {a="1"} 2.5'
    err = Result.failure("e", "error", "execution", "boom\n  at line 2")
    assert short_answer(err) == "error(execution): boom at line 2"
    assert len(short_answer(vector("e", 1.0, {"x": "y" * 200}), limit=40)) == 40


# ---------------------------------------------------------------------- conclusions


def test_a_pass_off_by_default_that_makes_it_diverge_is_named() -> None:
    ex, opened = fake_explainer(pass_on("narrow_binary_selectors"))
    with ex:
        e = ex.explain(CASE, "mqe")
    assert e.conclusion == "diverges only with narrow_binary_selectors on (off by default)"
    assert e.attributed == ["+narrow_binary_selectors"]
    assert e.label == "engine"
    assert e.row("target").vs_reference == "match"  # type: ignore[union-attr]
    assert {r.engine for r in e.rows if r.differs} == {"mqe[+narrow_binary_selectors]", "mqe[passes=all]"}
    assert all(f.closed for f in opened.values())  # the explainer closes what it opened


def test_a_default_pass_whose_removal_cures_it_is_named() -> None:
    ex, _ = fake_explainer(pass_on("prune_toggles"))
    e = ex.explain(CASE, "mqe")
    assert e.conclusion == "diverges only with prune_toggles on (on by default)"
    assert e.attributed == ["+prune_toggles"]
    assert e.label == "engine"


def test_no_single_pass_but_all_off_cures_it() -> None:
    ex, _ = fake_explainer(lambda s: 1.0 if s.family == "mqe" and any(on for _, on in s.passes) else 0.0)
    e = ex.explain(CASE, "mqe")
    assert e.conclusion.startswith("diverges only with optimizations on (passes=none agrees")
    assert e.label == "engine"


def test_engine_fork_lag_and_both() -> None:
    # engine: the target alone differs, every pass configuration.
    ex, _ = fake_explainer(lambda s: 1.0 if s.family == "mqe" else 0.0)
    e = ex.explain(CASE, "mqe")
    assert (e.label, e.conclusion) == ("engine", "engine: same-build reference agrees with upstream prometheus "
                                                 "v0.316.0, mqe differs")
    # fork lag: the fork's engine and the target agree, upstream differs.
    ex, _ = fake_explainer(lambda s: 0.0 if s.family == "prometheus" else 1.0)
    e = ex.explain(CASE, "mqe")
    assert (e.label, e.conclusion) == ("fork-lag", "fork lag: mimir-prometheus differs from prometheus v0.316.0 too")
    # both: all three differ.
    ex, _ = fake_explainer(lambda s: {"prometheus": 0.0, "thanos-prometheus": 1.0}.get(s.family, 2.0))
    e = ex.explain(CASE, "thanos")
    assert e.label == "both"
    assert e.conclusion.startswith("both: thanos differs from thanos-prometheus, which differs from prometheus")
    # none.
    ex, _ = fake_explainer(lambda s: 0.0)
    e = ex.explain(CASE, "thanos", variants=False)
    assert (e.label, [r.role for r in e.rows]) == ("none", ["reference", "upstream", "target"])
    assert e.conclusion.startswith("no divergence")


def test_thanos_optimizer_attribution() -> None:
    ex, _ = fake_explainer(lambda s: 1.0 if s.family == "thanos" and dict(s.options).get("optimizers") == "all" else 0.0)
    e = ex.explain(CASE, "thanos")
    assert e.conclusion == "diverges only with optimizers=all"
    assert e.attributed == ["optimizers=all"]


def test_given_engines_are_reused_and_not_closed() -> None:
    ref = FakeEngine("mimir-prometheus", lambda s: 0.0)
    ex, opened = fake_explainer(lambda s: 0.0)
    with ex:
        ex.explain(CASE, "mqe", variants=False)
        ex._given["mimir-prometheus"] = ref  # as a campaign worker passes its own
        ex.explain(CASE, "mqe", variants=False)
    assert ref.loads == 1 and not ref.closed
    assert opened["mimir-prometheus"].loads == 1  # the second explanation did not use it


def test_time_bound_skips_the_rest() -> None:
    ex, _ = fake_explainer(lambda s: 0.0)
    e = ex.explain(CASE, "mqe", seconds=0.0)
    assert [r.role for r in e.rows] == ["reference", "upstream", "target"]
    assert len(e.skipped) == len(option_variants("mqe"))


def test_http_targets_are_refused() -> None:
    from promfuzz.errors import ConfigError

    with pytest.raises(ConfigError, match="explain"):
        Explainer(opener=lambda n: None).explain(CASE, "http:http://127.0.0.1:1")


# ---------------------------------------------------------------- real hosts, CLI

NARROW = """load 1m
  foo_count{instance="x y"} 0.0
  request_duration_seconds_total 0.0

eval instant at 0s quantile by (instance) (0, foo_count) unless ignoring (instance) request_duration_seconds_total
"""

PRUNE = """load 1m
  foo 0.0

eval instant at 13s timestamp(foo and on () vector(1) == 1)
  {} 13.0
"""


@pytest.mark.hosts
def test_cli_on_the_real_mimir_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need_binary("mimir-host")
    need_binary("prometheus-host")
    from promfuzz.cli import main

    (tmp_path / "narrow.test").write_text(NARROW)
    (tmp_path / "prune.test").write_text(PRUNE)
    assert main(["explain", str(tmp_path / "narrow.test"), "--engine", "mqe"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == (
        "conclusion [engine]: diverges only with narrow_binary_selectors on (off by default)")
    assert main(["explain", str(tmp_path / "prune.test"), "--engine", "mqe", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["conclusion"] == "diverges only with prune_toggles on (on by default)"
    assert d["label"] == "engine" and d["upstream_version"] == "v0.316.0"
    rows = {r["engine"]: r for r in d["rows"]}
    assert rows["mqe"]["vs_reference"] == "divergence"
    assert rows["mqe[-prune_toggles]"]["vs_reference"] == "match"
    assert rows["mimir-prometheus"]["vs_upstream"] == "match"


@pytest.mark.hosts
def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from promfuzz.cli import main

    (tmp_path / "c.test").write_text(PRUNE)
    assert main(["explain", str(tmp_path / "c.test"), "--engine", "mqe[+nope]"]) == 2
    assert "unknown MQE pass 'nope'" in capsys.readouterr().err
    two = PRUNE + "\neval instant at 0s foo\n  foo 0\n"
    (tmp_path / "two.test").write_text(two)
    assert main(["explain", str(tmp_path / "two.test"), "--engine", "mqe"]) == 2
    assert "exactly one eval" in capsys.readouterr().err


def test_no_upstream_row_when_the_reference_is_upstream() -> None:
    ex, _ = fake_explainer(lambda s: 0.0)
    e = ex.explain(CASE, "prometheus")
    assert [r.role for r in e.rows] == ["reference", "target"] and e.upstream is None
    ex, _ = fake_explainer(lambda s: 1.0 if s.family == "prometheus-live" else 0.0)
    e = ex.explain(CASE, "prometheus-live", variants=False)
    assert (e.label, e.conclusion) == ("engine", "engine: prometheus-live differs from prometheus (no upstream to compare with)")


def test_other_built_revisions_are_replayed_and_a_fix_is_named(tmp_path: Path) -> None:
    rev = tmp_path / "revs" / "mimir-0123456789abcdef"
    rev.mkdir(parents=True)
    (rev / "mimir-host").write_text("")
    (rev / "meta.json").write_text(json.dumps({"host": "mimir", "revision": "v1.2.3", "binary_name": "mimir-host",
                                               "built_at": 1}))
    ex, _ = fake_explainer(lambda s: 1.0 if s.family == "mqe" and not s.revision else 0.0, tmp_path)
    e = ex.explain(CASE, "mqe[passes=all]")
    revs = [r for r in e.rows if r.role == "revision"]
    assert [(r.engine, r.vs_reference) for r in revs] == [("mqe@v1.2.3[passes=all]", "match")]
    assert e.conclusion.endswith("; fixed in v1.2.3") or "fixed in v1.2.3" in e.conclusion
    assert not e.notes
    ex, _ = fake_explainer(lambda s: 0.0)
    e = ex.explain(CASE, "mqe")
    assert e.notes and e.notes[0].startswith("only the pinned build")


def test_a_target_with_a_revision_gets_the_other_revisions_with_its_options_only(tmp_path: Path) -> None:
    from promfuzz.explain import revision_variants

    for r in ("v1.2.3", "v1.2.4"):
        rev = tmp_path / "revs" / f"mimir-{r}"
        rev.mkdir(parents=True)
        (rev / "mimir-host").write_text("")
        (rev / "meta.json").write_text(json.dumps({"host": "mimir", "revision": r, "binary_name": "mimir-host",
                                                   "built_at": 1}))
    got, _ = revision_variants("mqe@v1.2.3[passes=all]", tmp_path)
    assert [v.spec for v in got] == ["mqe@v1.2.4[passes=all]"]  # not mqe@v1.2.4@v1.2.3[passes=all]


def test_the_case_lookback_reaches_every_engine() -> None:
    ex, opened = fake_explainer(lambda s: 0.0)
    case = Case(Dataset(()), "a", EvalParams.instant(0).with_lookback(30_000))
    e = ex.explain(case, "mqe", variants=False)
    assert [r.engine for r in e.rows] == ["mimir-prometheus[lookback=30s]", "prometheus[lookback=30s]", "mqe[lookback=30s]"]


# ------------------------------------------- campaigns: lookback, parser-aware, explain

def test_lookback_is_drawn_per_dataset_from_thanos_values() -> None:
    from promfuzz.plan import LOOKBACKS, dataset_lookback, dataset_seed

    drawn = [dataset_lookback(dataset_seed(3, d)) for d in range(200)]
    assert set(drawn) == set(LOOKBACKS)  # every value is used
    assert drawn == [dataset_lookback(dataset_seed(3, d)) for d in range(200)]  # seeded


def test_lookback_round_trips_through_promqltest_and_replay_settings(tmp_path: Path) -> None:
    from promfuzz.corpus.promqltest import read_case, write_case
    from promfuzz.corpus.replay import file_settings
    from promfuzz.errors import PromQLTestFormatError

    case = Case(Dataset(()), "vector(1)", EvalParams.instant(60_000).with_lookback(30_000))
    text = write_case(case)
    assert text.startswith("# promfuzz:lookback 30s\n")
    assert read_case(text) == case
    (tmp_path / "c.test").write_text(text)
    assert file_settings(tmp_path / "c.test")[0] == {"lookback": "30s"}
    plain = write_case(Case(Dataset(()), "vector(1)", EvalParams.instant(0)))
    assert "lookback" not in plain and read_case(plain).params.lookback_ms is None
    with pytest.raises(PromQLTestFormatError, match="lookback"):
        read_case("# promfuzz:lookback soon\neval instant at 0s vector(1)\n")
    assert EvalParams.from_json_obj(case.params.to_json_obj()) == case.params
    assert "lookback_ms" not in EvalParams.instant(0).to_json_obj()  # old case hashes unchanged


def test_generator_leaves_out_what_it_is_told() -> None:
    from promfuzz.pipeline import generate_dataset_cases

    ex = frozenset({"fn:step", "fn:start_timestamp", "match:fill", "match:fill_left", "match:fill_right",
                    "op:</", "op:>/"})
    _, before = generate_dataset_cases(11, 600)
    _, after = generate_dataset_cases(11, 600, exclude=ex)

    def bad(q: str) -> bool:
        return any(s in q for s in ("step()", "start_timestamp(", "fill(", "fill_left", "fill_right", " </ ", " >/ "))

    assert sum(bad(c.query) for c in before) > 10  # the check can fail
    assert [c.query for c in after if bad(c.query)] == []
    from promfuzz.promql.parser import parse

    def top(q: str) -> str:
        from promfuzz.promql.ast import value_type

        return str(value_type(parse(q)))

    _, no_ranges = generate_dataset_cases(11, 300, exclude=frozenset({"top:matrix", "top:string"}))
    tops = {top(c.query) for c in no_ranges if not c.invalid}
    assert tops and not tops & {"matrix", "string"}
    assert {top(c.query) for c in before if not c.invalid} & {"matrix", "string"}


@pytest.mark.hosts
def test_parser_exclusions_of_the_real_hosts() -> None:
    need_binary("thanos-host")
    need_binary("prometheus-host")
    from promfuzz.engines.registry import open_engine
    from promfuzz.generators.parsers import parser_exclusions, skew_share

    engines = [open_engine("thanos-prometheus"), open_engine("thanos")]
    try:
        left = parser_exclusions(engines)
        for feat in ("fn:start_timestamp", "fn:step", "match:fill", "op:</"):
            assert feat in left and "v0.308.0" in left[feat]
        after = skew_share(engines, 1, 1, 300, exclude=frozenset(left))
        before = skew_share(engines, 1, 1, 300)
        assert before["skew"] > 10 and after["skew"] == 0
    finally:
        for e in engines:
            e.close()
    from promfuzz.generators.parsers import engine_exclusions

    engines = [open_engine("mimir-prometheus"), open_engine("mqe")]
    try:
        left = engine_exclusions(engines)
        assert {"op:</", "op:>/", "match:fill"} <= set(left) and "fn:rate" not in left
        assert "mqe declines" in left["op:</"]
    finally:
        for e in engines:
            e.close()
    thanos = open_engine("thanos")
    try:
        assert {"top:matrix", "top:string"} <= set(engine_exclusions([thanos]))
    finally:
        thanos.close()
    prom = open_engine("prometheus")
    try:
        assert parser_exclusions([prom]) == {} and engine_exclusions([prom]) == {}
    finally:
        prom.close()


@pytest.mark.hosts
def test_campaign_pipeline_varies_lookback_explains_findings_and_is_parser_aware() -> None:
    need_binary("mimir-host")
    need_binary("prometheus-host")
    from promfuzz.budget import Budget
    from promfuzz.pipeline import Pipeline
    from promfuzz.plan import CampaignConfig

    cfg = CampaignConfig(targets=("mqe",), budget=Budget(cases=40), corpus=None, shrink=False, seed=3,
                         queries_per_dataset=40)
    with Pipeline(cfg) as pipe:
        assert "fn:start_timestamp" in pipe.left_out  # the Mimir fork's parser lacks it
        # Both sides switch to engines with the dataset's lookback, named as configured.
        assert pipe._use_lookback("30s") == 30_000
        assert (pipe.reference.name, pipe.targets[0].name) == ("mimir-prometheus", "mqe")
        assert pipe.reference.spec.name == "mimir-prometheus[lookback=30s]"
        assert pipe.targets[0].spec.name == "mqe[lookback=30s]"
        stale = Dataset.from_json_obj({"series": [{"labels": {"__name__": "a"}, "samples": [[0, "1"]]}]})
        for e in (pipe.reference, pipe.targets[0]):
            e.load(stale)
            assert e.query("a", EvalParams.instant(60_000)).series == ()  # 60s > 30s lookback
        pipe._use_lookback(None)
        pipe.reference.load(stale)
        assert len(pipe.reference.query("a", EvalParams.instant(60_000)).series) == 1  # 5m
        assert pipe.reference.spec.name == "mimir-prometheus"
        assert pipe._use_lookback("5m") is None  # the default is the default
        events = list(pipe.run_dataset(dataset_seed_with(cfg, "10m"), 40))
    findings = [e[1] for e in events if e[0] == "finding"]
    for f in findings:
        assert f.params.get("lookback_ms") == 600_000
        assert f.explain is not None and f.explain["label"] in ("engine", "fork-lag", "both", "none")
        assert f.explain["conclusion"]
    assert findings, "seed without a finding: pick another"


def dataset_seed_with(cfg: Any, lookback: str) -> int:
    from promfuzz.plan import dataset_lookback, dataset_seed

    return next(s for d in range(100) if dataset_lookback(s := dataset_seed(cfg.seed, d)) == lookback)


def test_a_lookback_case_is_stored_with_its_line_and_without_the_5m_runner_gate(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import promfuzz.corpus.runner as runner
    from promfuzz.corpus.promqltest import read_test_file
    from promfuzz.corpus.store import CorpusStore
    from promfuzz.pipeline import StoredCase, store_finding
    from promfuzz.plan import CampaignConfig
    from promfuzz.reports.records import Finding

    asked: list[str] = []
    monkeypatch.setattr(runner, "check_pasteable", lambda text, ref: asked.append(ref) or None)
    case = Case(Dataset.from_json_obj({"series": [{"labels": {"__name__": "a"}, "samples": [[0, "1"]]}]}),
                "a", EvalParams.instant(60_000).with_lookback(30_000))
    f = Finding("differential-value-0123456789", "t", "divergence", "differential", "value", "mimir-prometheus",
                "mqe", "a", "a", case.params.to_json_obj(), None, "")
    path = store_finding(CorpusStore(tmp_path), StoredCase(case, None, {}), f, CampaignConfig(corpus=None), {})
    assert asked == ["mimir-prometheus[lookback=30s]"]  # runner_for() has no runner for it
    assert runner.runner_for(asked[0]) is None
    assert path is not None and read_test_file(path).cases()[0].params.lookback_ms == 30_000
