"""One error message is one bug: error signatures ignore the rest of the query."""

from promfuzz.model import Case, Dataset, EvalParams, Result
from promfuzz.oracles import DifferentialOracle

DS = Dataset()
P = EvalParams.instant(60_000)


def _ok(engine: str) -> Result:
    return Result(engine=engine, outcome="ok", value_type="vector")


def _err(engine: str, msg: str, kind: str = "bad_data") -> Result:
    return Result.failure(engine, "error", kind, msg)


def _key(query: str, ref: Result, tgt: Result) -> str:
    v = DifferentialOracle().check(Case(DS, query, P), ref, tgt)
    assert v.kind == "divergence"
    assert v.signature is not None
    return v.signature.key()


def test_same_error_message_in_different_queries_gives_one_signature() -> None:
    a = _key("min_of(1, 2)", _ok("prometheus"), _err("mqe", '1:1: parse error: unknown function with name "min_of"'))
    b = _key(
        "sum by (job) (rate(foo[5m])) + min_of(3, 4)",
        _ok("prometheus"),
        _err("mqe", '1:31: parse error: unknown function with name "min_of"'),
    )
    assert a == b


def test_different_error_messages_give_different_signatures() -> None:
    a = _key("min_of(1, 2)", _ok("prometheus"), _err("mqe", 'parse error: unknown function with name "min_of"'))
    b = _key("max_of(1, 2)", _ok("prometheus"), _err("mqe", 'parse error: unknown function with name "max_of"'))
    assert a != b


def test_label_sets_and_numbers_in_messages_do_not_split_signatures() -> None:
    m1 = 'found duplicate series for the match group {a="1"} on the left side'
    m2 = 'found duplicate series for the match group {a="2", b="x"} on the left side'
    a = _key("x * y", _ok("prometheus"), _err("mqe", m1, "execution"))
    b = _key("x / on(a) y", _ok("prometheus"), _err("mqe", m2, "execution"))
    assert a == b


def test_which_side_failed_is_part_of_the_signature() -> None:
    msg = "vector cannot contain metrics with the same labelset"
    a = _key("x", _err("prometheus", msg, "execution"), _ok("mqe"))
    b = _key("x", _ok("prometheus"), _err("mqe", msg, "execution"))
    assert a != b


def test_unquoted_function_names_in_messages_do_not_split_signatures() -> None:
    def msgs(fn: str) -> tuple[Result, Result]:
        text = f"smoothed modifier can only be used with: delta, increase, rate - not with {fn}"
        return _err("prometheus", text, "execution"), _err("mqe", f'invalid parameter "query": {text}', "bad_data")

    a = _key("max_over_time(x[1m] smoothed)", *msgs("max_over_time"))
    b = _key("deriv(y[5m] smoothed)", *msgs("deriv"))
    assert a == b


def _ann(engine: str, warnings: tuple[str, ...] = (), infos: tuple[str, ...] = ()) -> Result:
    return Result(engine=engine, outcome="ok", value_type="vector", warnings=warnings, infos=infos)


def test_annotation_only_differences_group_by_annotation_kind_not_query() -> None:
    w1 = ("PromQL warning: quantile value should be between 0 and 1, got -16 (1:102)",)
    w2 = ("PromQL warning: quantile value should be between 0 and 1, got 60 (1:9)",)
    a = _key("histogram_quantile(-16, x) * y", _ann("prometheus", w1), _ann("mqe"))
    b = _key("sum(quantile(60, z))", _ann("prometheus", w2), _ann("mqe"))
    assert a == b
    i1 = ("PromQL info: ignored histogram in topk aggregation (1:1)",)
    c = _key("topk(1, h)", _ann("prometheus", infos=i1), _ann("mqe"))
    assert c != a
    d = _key("topk(1, h)", _ann("prometheus"), _ann("mqe", infos=i1))  # gained instead of lost
    assert d != c
