"""An engine developer's test: compare your engine with Prometheus on generated cases.

Run: pytest docs/examples/test_my_engine.py --promfuzz-target 'http:http://127.0.0.1:9090'
"""

from hypothesis import given, settings

from promfuzz import strategies as pst
from promfuzz.model import Dataset, EvalParams


@settings(deadline=None, max_examples=3000)
@given(case=pst.cases())
def test_my_engine_matches_prometheus(case, assert_same_result):  # type: ignore[no-untyped-def]
    assert_same_result(case.query, case.params, case.dataset)


def test_a_known_query(assert_same_result):  # type: ignore[no-untyped-def]
    ds = Dataset.build([({"__name__": "up", "job": "a"}, [(0, 1.0), (60_000, 2.0)])])
    assert_same_result("sum by (job) (up)", EvalParams.instant(60_000), ds)
