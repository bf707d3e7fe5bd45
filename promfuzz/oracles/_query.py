"""What the oracles need to know about a query, independent of the full parser.

The comparator needs only the *shape* of a query near its top (is it ordered, is there a
``topk`` whose ties must be judged, which labels did ``count_values`` create) and the
signature needs the query's *features* (functions, aggregations, operators, modifiers).
This module derives both from a light token-level analysis of the text, so the oracles
work on any query text, including ones our own parser does not accept. When
:mod:`promfuzz.promql` can parse the query, its :func:`features` are used instead of the
token-level fallback (see :func:`query_features`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any, Literal

# --------------------------------------------------------------------------- tokens

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+(?:ms|[smhdwy]))+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_:]*|:[A-Za-z_][A-Za-z0-9_:]*(?=\s*[^\s\]]))
  | (?P<op>==|!=|<=|>=|=~|!~|</|>/|[-+*/%^<>=@:,(){}\[\]])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | number | ident | op | other
    text: str


def tokenize(text: str) -> tuple[Token, ...]:
    out: list[Token] = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup or "other"
        if kind in ("ws", "comment"):
            continue
        out.append(Token(kind, m.group()))
    return tuple(out)


AGGREGATIONS = frozenset(
    "sum avg count min max group stddev stdvar topk bottomk count_values quantile limitk limit_ratio".split()
)
SET_OPERATORS = frozenset({"and", "or", "unless"})
WORD_OPERATORS = SET_OPERATORS | {"atan2"}
SYMBOL_BINARY = frozenset({"+", "-", "*", "/", "%", "^", "==", "!=", "<", "<=", ">", ">=", "</", ">/"})
MODIFIER_WORDS = frozenset(
    {"offset", "bool", "on", "ignoring", "group_left", "group_right", "by", "without", "fill", "fill_left",
     "fill_right", "anchored", "smoothed"}
)
SELECT_K = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})
# The select-k operators whose pick PromQL leaves open (ties, any subset). limit_ratio's
# pick is not: Prometheus keeps a series when the hash of its label set, scaled to [0, 1),
# falls below the ratio (HashRatioSampler, engine.go; MQE copies the rule), so its answer
# is compared exactly and it never makes a query tie-sensitive. (The hash is
# labels.Hash() of the default stringlabels build; a target built with -tags slicelabels
# hashes differently and picks other series: a real difference from Prometheus.)
OPEN_PICK = frozenset({"topk", "bottomk", "limitk"})
ORDERING_FUNCTIONS = frozenset({"sort", "sort_desc", "sort_by_label", "sort_by_label_desc"})

# Functions that map each sample's value on its own and keep the series' labels (bar the
# metric name); the sort functions only reorder. A topk & co under them is still judged
# locally, but never by the output values alone (floor, abs, sgn, clamp are not
# injective): the comparator checks the pick below the wrapper against the operand's
# answer (see compare.py).
TIE_TRANSPARENT_FUNCTIONS = frozenset(
    """abs ceil floor round exp sqrt ln log2 log10 sgn clamp clamp_min clamp_max deg rad sin cos tan
    asin acos atan sinh cosh tanh asinh acosh atanh sort sort_desc sort_by_label sort_by_label_desc""".split()
)

_UNARY_CONTEXT = frozenset({"(", ",", "[", "{", "bool", "offset", "@", "group_left", "group_right", "on",
                            "ignoring", "fill", "fill_left", "fill_right"})
_CLOSE = {"(": ")", "[": "]", "{": "}"}


def _match(tokens: Sequence[Token], i: int) -> int:
    """Index of the bracket closing the one at ``i`` (or len(tokens) when unbalanced)."""
    depth = 0
    for j in range(i, len(tokens)):
        t = tokens[j].text if tokens[j].kind == "op" else ""
        if t in ("(", "[", "{"):
            depth += 1
        elif t in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return j
    return len(tokens)


def _strip_parens(tokens: Sequence[Token]) -> Sequence[Token]:
    while len(tokens) >= 2 and tokens[0].text == "(" and _match(tokens, 0) == len(tokens) - 1:
        tokens = tokens[1:-1]
    return tokens


def _split_args(tokens: Sequence[Token]) -> list[Sequence[Token]]:
    args: list[Sequence[Token]] = []
    depth = 0
    start = 0
    for j, t in enumerate(tokens):
        if t.kind != "op":
            continue
        if t.text in ("(", "[", "{"):
            depth += 1
        elif t.text in (")", "]", "}"):
            depth -= 1
        elif t.text == "," and depth == 0:
            args.append(tokens[start:j])
            start = j + 1
    if tokens[start:] or args:
        args.append(tokens[start:])
    return args


def _is_binary_op(tok: Token) -> bool:
    if tok.kind == "op":
        return tok.text in SYMBOL_BINARY
    return tok.kind == "ident" and tok.text.lower() in WORD_OPERATORS


def _top_binary_positions(tokens: Sequence[Token]) -> list[int]:
    """Positions of depth-0 binary operators (unary signs excluded)."""
    out: list[int] = []
    depth = 0
    prev: Token | None = None
    for j, t in enumerate(tokens):
        if t.kind == "op" and t.text in ("(", "[", "{"):
            depth += 1
        elif t.kind == "op" and t.text in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and _is_binary_op(t):
            unary = t.text in ("+", "-") and (
                prev is None or _is_binary_op(prev) or prev.text.lower() in _UNARY_CONTEXT
            )
            if not unary:
                out.append(j)
        prev = t
    return out


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[tuple[Token, ...], ...]
    grouping: Literal["by", "without"] | None = None
    grouping_labels: tuple[str, ...] = ()


def _as_call(tokens: Sequence[Token]) -> Call | None:
    """The call when the whole token list is one function call or aggregation."""
    if len(tokens) < 3 or tokens[0].kind != "ident" or _top_binary_positions(tokens):
        return None
    name = tokens[0].text
    i = 1
    grouping: Literal["by", "without"] | None = None
    labels: tuple[str, ...] = ()

    def read_grouping(at: int) -> int:
        nonlocal grouping, labels
        word = tokens[at].text.lower()
        grouping = "by" if word == "by" else "without"
        if at + 1 >= len(tokens) or tokens[at + 1].text != "(":
            return -1
        end = _match(tokens, at + 1)
        labels = tuple(
            t.text.strip("\"'`") for t in tokens[at + 2 : end] if t.kind in ("ident", "string")
        )
        return end + 1

    if tokens[i].kind == "ident" and tokens[i].text.lower() in ("by", "without"):
        i = read_grouping(i)
        if i < 0 or i >= len(tokens):
            return None
    if tokens[i].text != "(":
        return None
    end = _match(tokens, i)
    body = tokens[i + 1 : end]
    rest = end + 1
    if rest < len(tokens):
        if grouping is None and tokens[rest].kind == "ident" and tokens[rest].text.lower() in ("by", "without"):
            rest = read_grouping(rest)
            if rest != len(tokens):
                return None
        else:
            return None
    return Call(name, tuple(tuple(a) for a in _split_args(body)), grouping, labels)


def _is_number_literal(tokens: Sequence[Token]) -> bool:
    tokens = _strip_parens(tokens)
    if tokens and tokens[0].text in ("+", "-"):
        tokens = tokens[1:]
    return len(tokens) == 1 and (
        tokens[0].kind == "number" or (tokens[0].kind == "ident" and tokens[0].text.lower() in ("inf", "nan"))
    )


# --------------------------------------------------------------------------- shape


@dataclass(frozen=True)
class SelectK:
    """A ``topk``/``bottomk``/``limitk`` whose choice shows in the result, at the top of
    the query or under element-wise wrappers only.

    The texts (canonical, :func:`promfuzz.promql.to_text`; None when the query was analysed
    from tokens or cannot be printed) let the comparator ask the reference engine for the
    operator's input: ``operand_text`` is the operand ``X``, ``node_text`` the operator
    itself, ``lifted_text`` the whole query with the operator replaced by ``X`` (the
    wrappers applied to every input series; None when ``direct``). ``k`` is the parameter
    when it is a number literal."""

    op: str
    grouping: Literal["by", "without"] | None
    labels: tuple[str, ...]
    direct: bool  # the query's top node (through parentheses): its order within groups is defined
    operand_text: str | None = field(default=None, compare=False)
    node_text: str | None = field(default=None, compare=False)
    lifted_text: str | None = field(default=None, compare=False)
    k: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class QueryShape:
    text: str
    ordering: str | None  # sort | sort_desc | sort_by_label | sort_by_label_desc at the top
    sort_labels: tuple[str, ...]  # labels named by sort_by_label*
    select_k: SelectK | None  # top-level (or element-wise wrapped) topk/bottomk/limitk
    nested_select_k: bool  # another topk/bottomk/limitk (not the one above) anywhere in the query
    count_values_labels: frozenset[str]
    parsed: bool  # the token analysis understood the top of the query


def _string_value(tokens: Sequence[Token]) -> str | None:
    tokens = _strip_parens(tokens)
    if len(tokens) == 1 and tokens[0].kind == "string":
        raw = tokens[0].text
        body = raw[1:-1]
        if raw[0] != "`":
            body = re.sub(r"\\(.)", r"\1", body)
        return body
    return None


@lru_cache(maxsize=256)
def _tree(text: str) -> Any:
    """The parsed query, or None when our parser refuses it; cached because the comparator
    (:func:`analyze`) and the signature (:func:`query_features`) ask for the same query."""
    try:
        from promfuzz.promql import parse

        return parse(text)
    except Exception:  # noqa: BLE001 -- any refusal falls back to tokens
        return None


@lru_cache(maxsize=4096)
def analyze(text: str) -> QueryShape:
    """The query's shape as the comparator needs it (cached: the same query text recurs).

    From :mod:`promfuzz.promql`'s tree when it parses the text, else from tokens."""
    tree = _tree(text)
    if tree is None:
        return analyze_tokens(text)
    return analyze_tree(text, tree)


def _unparen(node: Any) -> Any:
    from promfuzz.promql import ParenExpr

    while isinstance(node, ParenExpr):
        node = node.expr
    return node


def analyze_tree(text: str, tree: Any) -> QueryShape:
    """:func:`analyze` on a parsed tree."""
    from promfuzz.promql import AggregateExpr, BinaryExpr, Call, NumberLiteral, StringLiteral, UnaryExpr, walk

    ordering: str | None = None
    sort_labels: tuple[str, ...] = ()
    top = _unparen(tree)
    if isinstance(top, Call) and top.func in ORDERING_FUNCTIONS:
        ordering = top.func
        sort_labels = tuple(_unparen(a).value for a in top.args[1:] if isinstance(_unparen(a), StringLiteral))
    select_k: SelectK | None = None
    node, direct = top, True
    while True:
        node = _unparen(node)
        if isinstance(node, AggregateExpr) and node.op in SELECT_K:
            if node.op in OPEN_PICK:
                grouping: Literal["by", "without"] | None = None
                if node.grouping is not None:
                    grouping = "without" if node.without else "by"
                select_k = SelectK(node.op, grouping, tuple(node.grouping or ()), direct,
                                   *_select_k_texts(tree, node, direct))
            break
        if isinstance(node, Call) and node.func in TIE_TRANSPARENT_FUNCTIONS and node.args:
            node, direct = node.args[0], False
            continue
        if isinstance(node, UnaryExpr):
            node, direct = node.expr, False
            continue
        if isinstance(node, BinaryExpr) and node.op not in SET_OPERATORS:
            if isinstance(_unparen(node.rhs), NumberLiteral):
                node, direct = node.lhs, False
                continue
            if isinstance(_unparen(node.lhs), NumberLiteral):
                node, direct = node.rhs, False
                continue
        break
    occurrences = 0
    cv: set[str] = set()
    for n, _ in walk(tree):
        if isinstance(n, AggregateExpr):
            if n.op in OPEN_PICK:
                occurrences += 1
            elif n.op == "count_values" and isinstance(_unparen(n.param), StringLiteral):
                cv.add(_unparen(n.param).value)
    return QueryShape(
        text=text, ordering=ordering, sort_labels=sort_labels, select_k=select_k,
        nested_select_k=occurrences > (1 if select_k is not None else 0),
        count_values_labels=frozenset(cv), parsed=True,
    )


def _select_k_texts(tree: Any, node: Any, direct: bool) -> tuple[str | None, str | None, str | None, float | None]:
    """(operand, node, lifted) texts and the literal k of the select-k ``node`` in ``tree``."""
    from promfuzz.promql import NumberLiteral, to_text

    param = _unparen(node.param) if node.param is not None else None
    k = float(param.value) if isinstance(param, NumberLiteral) else None
    try:
        operand = to_text(node.expr)
        own = to_text(node)
        lifted = None if direct else to_text(_substitute(tree, node, node.expr))
    except Exception:  # noqa: BLE001 -- a tree the printer refuses: nothing to ask the engine
        return None, None, None, k
    return operand, own, lifted, k


def _substitute(root: Any, old: Any, new: Any) -> Any:
    """``root`` with the node ``old`` (by identity) replaced by ``new``."""
    from promfuzz.promql import Node

    if root is old:
        return new
    changes: dict[str, Any] = {}
    for f in fields(root):
        v = getattr(root, f.name)
        if isinstance(v, Node):
            nv = _substitute(v, old, new)
            if nv is not v:
                changes[f.name] = nv
        elif isinstance(v, tuple) and any(isinstance(x, Node) for x in v):
            nt = tuple(_substitute(x, old, new) if isinstance(x, Node) else x for x in v)
            if any(a is not b for a, b in zip(nt, v, strict=True)):
                changes[f.name] = nt
    return replace(root, **changes) if changes else root


def analyze_tokens(text: str) -> QueryShape:
    """:func:`analyze` from tokens only (for text our parser refuses)."""
    tokens = tokenize(text)
    ordering: str | None = None
    sort_labels: tuple[str, ...] = ()
    select_k: SelectK | None = None

    top = _strip_parens(tokens)
    call = _as_call(top)
    if call is not None and call.name in ORDERING_FUNCTIONS:
        ordering = call.name
        if call.name.startswith("sort_by_label"):
            sort_labels = tuple(s for a in call.args[1:] if (s := _string_value(a)) is not None)

    # Walk down through tie-transparent wrappers looking for a topk & co.
    node: Sequence[Token] = top
    direct = True
    while True:
        node = _strip_parens(node)
        c = _as_call(node)
        if c is not None and c.name in SELECT_K:
            if c.name in OPEN_PICK:
                select_k = SelectK(c.name, c.grouping, c.grouping_labels, direct)
            break
        if c is not None and c.name in TIE_TRANSPARENT_FUNCTIONS and c.args:
            node = c.args[0]
            direct = False
            continue
        if node and node[0].text in ("-", "+") and not _top_binary_positions(node):
            node = node[1:]
            direct = False
            continue
        ops = _top_binary_positions(node)
        if len(ops) == 1:
            j = ops[0]
            op = node[j]
            if op.kind == "ident" and op.text.lower() in SET_OPERATORS:
                break
            lhs, rhs = node[:j], node[j + 1 :]
            while rhs and rhs[0].kind == "ident" and rhs[0].text.lower() == "bool":
                rhs = rhs[1:]
            if _is_number_literal(rhs):
                node, direct = lhs, False
                continue
            if _is_number_literal(lhs):
                node, direct = rhs, False
                continue
        break

    nested = False
    occurrences = sum(1 for i, t in enumerate(tokens) if t.kind == "ident" and t.text in OPEN_PICK
                      and i + 1 < len(tokens) and tokens[i + 1].text in ("(", "by", "without"))
    if occurrences > (1 if select_k is not None else 0):
        nested = True

    cv_labels: set[str] = set()
    for i, t in enumerate(tokens):
        if t.kind == "ident" and t.text == "count_values":
            j = i + 1
            if j < len(tokens) and tokens[j].text.lower() in ("by", "without"):
                j = _match(tokens, j + 1) + 1
            if j < len(tokens) and tokens[j].text == "(":
                args = _split_args(tokens[j + 1 : _match(tokens, j)])
                if args and (s := _string_value(args[0])) is not None:
                    cv_labels.add(s)
    return QueryShape(
        text=text,
        ordering=ordering,
        sort_labels=sort_labels,
        select_k=select_k,
        nested_select_k=nested,
        count_values_labels=frozenset(cv_labels),
        parsed=bool(tokens) and not any(t.kind == "other" for t in tokens),
    )


# --------------------------------------------------------------------------- features

KNOWN_FUNCTIONS = frozenset(
    """abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max
    clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp
    first_over_time floor histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev
    histogram_stdvar histogram_sum hour idelta increase irate label_join label_replace last_over_time ln log10
    log2 max_over_time min_over_time minute month pi predict_linear present_over_time quantile_over_time rad
    rate resets round scalar sgn sin sinh sort sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time
    tan tanh time timestamp vector year double_exponential_smoothing end histogram_quantiles info
    mad_over_time max_of min_of range sort_by_label sort_by_label_desc start start_timestamp step
    ts_of_first_over_time ts_of_last_over_time ts_of_max_over_time ts_of_min_over_time holt_winters""".split()
)


def token_features(text: str) -> frozenset[str]:
    """Fallback feature extraction from tokens, named as :func:`promfuzz.promql.features`
    names them (``fn:rate``, ``agg:sum``, ``op:+``, ``mod:offset``, ``match:on``, ...)."""
    tokens = tokenize(text)
    out: set[str] = set()
    binary = _binary_positions_all(tokens)
    for i, t in enumerate(tokens):
        nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if t.kind == "ident":
            low = t.text.lower()
            if t.text in AGGREGATIONS and nxt in ("(", "by", "without"):
                out.add(f"agg:{t.text}")
            elif t.text in KNOWN_FUNCTIONS and nxt == "(":
                out.add(f"fn:{t.text}")
            elif low in WORD_OPERATORS and i > 0:
                out.add(f"op:{low}")
            elif low in ("by", "without") and i > 0 and nxt == "(":
                out.add(f"mod:{low}")
            elif low in ("on", "ignoring", "group_left", "group_right", "fill", "fill_left", "fill_right"):
                out.add(f"match:{low}")
            elif low in ("offset", "bool", "anchored", "smoothed"):
                out.add(f"mod:{low}")
        elif t.kind == "op":
            if t.text in SYMBOL_BINARY and i in binary:
                out.add(f"op:{t.text}")
            elif t.text in ("+", "-") and i not in binary and nxt != "" and tokens[i + 1].kind != "number":
                out.add(f"unary:{t.text}")
            elif t.text == "@":
                out.add("mod:@")
            elif t.text == "[":
                end = _match(tokens, i)
                out.add("mod:subquery" if any(x.text == ":" for x in tokens[i:end]) else "sel:range")
    return frozenset(out)


def _binary_positions_all(tokens: Sequence[Token]) -> set[int]:
    out: set[int] = set()
    prev: Token | None = None
    for j, t in enumerate(tokens):
        if _is_binary_op(t) and t.kind == "op":
            unary = t.text in ("+", "-") and (
                prev is None or _is_binary_op(prev) or prev.text.lower() in _UNARY_CONTEXT
            )
            if not unary:
                out.add(j)
        prev = t
    return out


@lru_cache(maxsize=4096)
def query_features(text: str) -> frozenset[str]:
    """Features of a query: from :mod:`promfuzz.promql` when it parses the text, else tokens."""
    from promfuzz.promql import features as _features

    tree = _tree(text)
    if tree is None:
        return token_features(text)
    try:
        return frozenset(str(f) for f in _features(tree))
    except Exception:  # noqa: BLE001 -- a tree the feature walk cannot read falls back to tokens
        return token_features(text)
