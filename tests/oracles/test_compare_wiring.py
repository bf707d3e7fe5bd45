"""Every caller with engines hands the comparator an operand resolver that asks the
reference, on the case's own data: the campaign pipeline (also after a shrink loaded other
data), the shrinker's engine check, corpus replay against a reference, the pytest plugin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oracle_helpers import vec

from promfuzz.campaign import CampaignConfig
from promfuzz.model import Case, Dataset, EvalParams, Result
from promfuzz.oracles import DifferentialOracle

T = 60_000
P = EvalParams.instant(T)
DS = Dataset.build([({"__name__": "m", "i": i}, [(0, 5.0)]) for i in "abc"])
OTHER = Dataset.build([({"__name__": "n"}, [(0, 1.0)])])
M = vec(T, ({"__name__": "m", "i": "a"}, 5.0), ({"__name__": "m", "i": "b"}, 5.0), ({"__name__": "m", "i": "c"}, 5.0))
REF = vec(T, ({"__name__": "m", "i": "a"}, 5.0))
OTHER_TIE = vec(T, ({"__name__": "m", "i": "c"}, 5.0))
FORGED = vec(T, ({"__name__": "m", "i": "zz"}, 5.0))


class Canned:
    """An engine answering from a table, recording what it was asked and loaded."""

    def __init__(self, name: str, answers: dict[str, Result]) -> None:
        self.name = name
        self.answers = answers
        self.loaded: list[str] = []
        self.asked: list[tuple[str, str | None]] = []

    def load(self, dataset: Dataset) -> None:
        self.loaded.append(dataset.fingerprint())

    def query(self, text: str, params: EvalParams, timeout_s: float | None = None) -> Result:
        self.asked.append((text, self.loaded[-1] if self.loaded else None))
        return self.answers.get(text) or Result.failure(self.name, "error", "execution", f"no answer for {text}")

    def query_many(self, items: Sequence[tuple[str, EvalParams]], timeout_s: float | None = None) -> list[Result]:
        return [self.query(q, p, timeout_s) for q, p in items]

    def versions(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        pass


def test_pipeline_judges_a_tie_pick_with_the_reference_on_the_case_data() -> None:
    from promfuzz.pipeline import Pipeline

    engines = {"prometheus": Canned("prometheus", {"m": M}), "mqe": Canned("mqe", {})}
    cfg = CampaignConfig(reference="prometheus", targets=("mqe",), corpus=None, shrink=False)
    p = Pipeline(cfg, engine_factory=lambda name: engines[name])  # type: ignore[arg-type,return-value]
    case = Case(DS, "topk(1, m)", P)
    ref_engine = engines["prometheus"]
    ref_engine.load(OTHER)  # e.g. a shrink left other data loaded
    (ok,) = p._judge(case, REF, OTHER_TIE)
    assert ok.kind == "match"
    assert ref_engine.asked == [("m", DS.fingerprint())]  # the case's data was loaded again first
    (bad,) = p._judge(case, REF, FORGED)
    assert bad.kind == "divergence"
    assert ref_engine.loaded.count(DS.fingerprint()) == 1  # loaded once, then known to be there


def test_the_shrinkers_engine_check_passes_the_reference_as_operand() -> None:
    from promfuzz.shrink import make_engine_check

    ref = Canned("prometheus", {"m": M, "topk(1, m)": REF})
    tgt = Canned("mqe", {"topk(1, m)": OTHER_TIE})
    check = make_engine_check(ref, tgt, DifferentialOracle())
    assert check(Case(DS, "topk(1, m)", P)).kind == "match"  # type: ignore[union-attr]
    assert ("m", DS.fingerprint()) in ref.asked
    tgt.answers["topk(1, m)"] = FORGED
    assert check(Case(DS, "topk(1, m)", P)).kind == "divergence"  # type: ignore[union-attr]


def test_an_oracle_without_an_operand_parameter_still_works_in_the_shrinker() -> None:
    from promfuzz.shrink import make_engine_check

    class Plain:
        def check(self, case: Case, ref: Result, tgt: Result) -> Any:
            return DifferentialOracle().check(case, ref, tgt)

    ref = Canned("prometheus", {"topk(1, m)": REF})
    tgt = Canned("mqe", {"topk(1, m)": OTHER_TIE})
    v = make_engine_check(ref, tgt, Plain())(Case(DS, "topk(1, m)", P))
    assert v is not None and v.kind == "divergence"  # unverified, never silently accepted


def test_corpus_replay_against_a_reference_uses_it_for_the_operand(tmp_path: Any) -> None:
    from promfuzz.corpus.replay import replay

    f = tmp_path / "tie.test"
    f.write_text('load 1m\n  m{i="a"} 5\n  m{i="b"} 5\n  m{i="c"} 5\n\neval instant at 1m topk(1, m)\n'
                 '  m{i="a"} 5\n')
    ref = Canned("prometheus", {"m": M, "topk(1, m)": REF})
    for answer, ok in ((OTHER_TIE, True), (FORGED, False)):
        tgt = Canned("mqe", {"topk(1, m)": answer})
        report = replay([f], tgt, against=ref, range_check=False, at_variants=False)
        assert report.ok is ok, report.to_json_obj()
