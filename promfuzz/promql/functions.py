"""The PromQL function and aggregation tables, as data.

Mirrors ``promql/parser/functions.go`` and the lexer's keyword tables of
Prometheus v0.316.0 exactly (checked against the host's ``GET /api/v1/functions``
by ``tests/promql/test_functions.py``). ``variadic`` follows Prometheus: 0 means a
fixed number of arguments, N > 0 means up to N optional trailing arguments of the
last argument type, -1 means unlimited trailing arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

ValueType = Literal["scalar", "vector", "matrix", "string"]

PROMETHEUS_VERSION = "v0.316.0"


@dataclass(frozen=True, slots=True)
class Function:
    """One PromQL function: name, argument types, variadic rule, return type."""

    name: str
    arg_types: tuple[ValueType, ...]
    return_type: ValueType
    variadic: int = 0
    experimental: bool = False

    @property
    def min_args(self) -> int:
        """Smallest number of arguments the parser accepts."""
        return len(self.arg_types) if self.variadic == 0 else len(self.arg_types) - 1

    @property
    def max_args(self) -> int | None:
        """Largest number of arguments the parser accepts (None: unlimited)."""
        if self.variadic == 0:
            return len(self.arg_types)
        if self.variadic < 0:
            return None
        return len(self.arg_types) - 1 + self.variadic

    def arg_type(self, i: int) -> ValueType:
        """The expected type of argument ``i`` (trailing variadic args repeat the last type)."""
        if i < len(self.arg_types):
            return self.arg_types[i]
        return self.arg_types[-1]


_V: ValueType = "vector"
_S: ValueType = "scalar"
_M: ValueType = "matrix"
_STR: ValueType = "string"


def _table() -> dict[str, Function]:
    fs: list[Function] = []

    def f(
        name: str,
        args: tuple[ValueType, ...],
        ret: ValueType = _V,
        variadic: int = 0,
        experimental: bool = False,
    ) -> None:
        fs.append(Function(name, args, ret, variadic, experimental))

    for n in (
        "abs absent acos acosh asin asinh atan atanh ceil cos cosh deg exp floor "
        "histogram_avg histogram_count histogram_sum histogram_stddev histogram_stdvar "
        "ln log10 log2 rad sgn sin sinh sort sort_desc sqrt tan tanh timestamp"
    ).split():
        f(n, (_V,))
    for n in (
        "absent_over_time avg_over_time changes count_over_time delta deriv first_over_time "
        "idelta increase irate last_over_time max_over_time min_over_time present_over_time "
        "rate resets stddev_over_time stdvar_over_time sum_over_time"
    ).split():
        f(n, (_M,))
    for n in "mad_over_time ts_of_first_over_time ts_of_max_over_time ts_of_min_over_time ts_of_last_over_time".split():
        f(n, (_M,), experimental=True)
    for n in "days_in_month day_of_month day_of_week day_of_year hour minute month year".split():
        f(n, (_V,), variadic=1)
    f("clamp", (_V, _S, _S))
    f("clamp_max", (_V, _S))
    f("clamp_min", (_V, _S))
    f("histogram_fraction", (_S, _S, _V))
    f("histogram_quantile", (_S, _V))
    f("histogram_quantiles", (_V, _STR, _S, _S), variadic=9, experimental=True)
    f("double_exponential_smoothing", (_M, _S, _S), experimental=True)
    f("info", (_V, _V), variadic=1, experimental=True)
    f("integral", (_M, _S), variadic=1, experimental=True)
    f("label_replace", (_V, _STR, _STR, _STR, _STR))
    f("label_join", (_V, _STR, _STR, _STR), variadic=-1)
    f("max_of", (_S, _S), _S, experimental=True)
    f("min_of", (_S, _S), _S, experimental=True)
    f("pi", (), _S)
    f("time", (), _S)
    f("end", (), _S, experimental=True)
    f("range", (), _S, experimental=True)
    f("start", (), _S, experimental=True)
    f("step", (), _S, experimental=True)
    f("predict_linear", (_M, _S))
    f("quantile_over_time", (_S, _M))
    f("round", (_V, _S), variadic=1)
    f("scalar", (_V,), _S)
    f("sort_by_label", (_V, _STR), variadic=-1, experimental=True)
    f("sort_by_label_desc", (_V, _STR), variadic=-1, experimental=True)
    f("start_timestamp", (_V,), experimental=True)
    f("vector", (_S,))
    return {fn.name: fn for fn in sorted(fs, key=lambda x: x.name)}


FUNCTIONS: Mapping[str, Function] = MappingProxyType(_table())
"""Every function the v0.316.0 parser knows, by name (sorted)."""


@dataclass(frozen=True, slots=True)
class Aggregation:
    """One aggregation operator; ``param_type`` is None when it takes no parameter."""

    name: str
    param_type: ValueType | None = None
    experimental: bool = False


AGGREGATIONS: Mapping[str, Aggregation] = MappingProxyType(
    {
        a.name: a
        for a in (
            Aggregation("avg"),
            Aggregation("bottomk", _S),
            Aggregation("count"),
            Aggregation("count_values", _STR),
            Aggregation("group"),
            Aggregation("limit_ratio", _S, experimental=True),
            Aggregation("limitk", _S, experimental=True),
            Aggregation("max"),
            Aggregation("min"),
            Aggregation("quantile", _S),
            Aggregation("stddev"),
            Aggregation("stdvar"),
            Aggregation("sum"),
            Aggregation("topk", _S),
        )
    }
)
"""Aggregation operators of the v0.316.0 lexer, by name."""

ARITHMETIC_OPERATORS: tuple[str, ...] = ("+", "-", "*", "/", "%", "^", "atan2")
COMPARISON_OPERATORS: tuple[str, ...] = ("==", "!=", ">", "<", ">=", "<=")
SET_OPERATORS: tuple[str, ...] = ("and", "or", "unless")
TRIM_OPERATORS: tuple[str, ...] = ("</", ">/")
"""Histogram trim operators (``</`` trims upper, ``>/`` trims lower)."""
BINARY_OPERATORS: tuple[str, ...] = (
    ARITHMETIC_OPERATORS + COMPARISON_OPERATORS + SET_OPERATORS + TRIM_OPERATORS
)

PRECEDENCE: Mapping[str, int] = MappingProxyType(
    {
        "or": 1,
        "and": 2,
        "unless": 2,
        "==": 3,
        "!=": 3,
        "<": 3,
        "<=": 3,
        ">": 3,
        ">=": 3,
        "</": 3,
        ">/": 3,
        "+": 4,
        "-": 4,
        "*": 5,
        "/": 5,
        "%": 5,
        "atan2": 5,
        "^": 6,
    }
)
"""Binary operator precedence (higher binds tighter); ``^`` is right-associative, the rest left."""

RIGHT_ASSOCIATIVE: frozenset[str] = frozenset({"^"})


def get_function(name: str) -> Function:
    """The function called ``name``; raises KeyError for an unknown name."""
    return FUNCTIONS[name]
