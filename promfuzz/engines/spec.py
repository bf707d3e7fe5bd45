"""Engine specs: ``FAMILY[[OPTION,...]]``, the one grammar every engine name uses.

``mqe``, ``mqe[passes=all]``, ``mqe[-narrow_binary_selectors]``,
``mqe[+narrow_binary_selectors,lookback=30s]``, ``thanos[optimizers=none]``,
``prometheus[lookback=30s]``. The CLI (``--reference``/``--target``/``--engine``), the
pytest plugin options, replay and reports all take and show specs; ``http:<url>`` names
stay as they are (options do not apply to them).

* An option is ``KEY=VALUE``; for MQE, ``+PASS`` / ``-PASS`` turn one optimization pass
  on or off and ``passes=default|all|none`` picks the base set (docs/engines.md).
* The engine's **name** (what reports, the corpus and rules see) is the spec normalized:
  defaults omitted, durations and booleans in one spelling, passes as the shortest
  ``passes=...`` plus ``+``/``-`` list, options sorted. ``mqe[passes=default]`` is ``mqe``.
* The **family** is the part before ``[``; known-difference rules match on it.
* ``FAMILY@REVISION[OPTIONS]`` names a host built against another revision of the
  engine's module, or a local checkout (``mqe@/path/to/mimir``); the revision is part of
  the name and ``promfuzz.engines.revisions`` builds the host on demand.

The defaults are what each engine's project ships (docs/engines.md lists them with the
file and line they were read from); the hosts report their effective configuration in
the ready line, and ``tests/engines/test_spec_hosts.py`` checks this table against it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from promfuzz.errors import ConfigError

# --------------------------------------------------------------------- option tables


@dataclass(frozen=True)
class OptionDef:
    """One option an engine family takes."""

    name: str
    kind: str  # "duration" | "bool" | "choice"
    default: str  # normalized spelling
    doc: str
    choices: tuple[str, ...] = ()


LOOKBACK = OptionDef(
    "lookback", "duration", "5m",
    "staleness lookback delta (Prometheus --query.lookback-delta, Mimir -querier.lookback-delta)",
)
DELAYED_NAME_REMOVAL = OptionDef(
    "delayed_name_removal", "bool", "false",
    "EnableDelayedNameRemoval (Prometheus feature flag promql-delayed-name-removal; "
    "Mimir -querier.enable-delayed-name-removal)",
)
PROMQLTEST_DNR = OptionDef(
    DELAYED_NAME_REMOVAL.name, "bool", "true", "as delayed_name_removal; promqltest's engine turns it on"
)
PASSES = OptionDef(
    "passes", "choice", "default",
    "base set of MQE optimization passes: default (Mimir's flag defaults), all (Mimir's test "
    "engine, NewTestEngineOpts), none",
    ("default", "all", "none"),
)
OPTIMIZERS = OptionDef(
    "optimizers", "choice", "default",
    "Thanos logical optimizers: default (logicalplan.DefaultOptimizers), all "
    "(logicalplan.AllOptimizers), none",
    ("default", "all", "none"),
)

# MQE's switchable optimization passes and Mimir's default for each (read from
# streamingpromql.EngineOpts.RegisterFlags, pkg/streamingpromql/config.go:70-78 of the
# pinned Mimir; the mimir host reads the same flags at run time and reports them).
MQE_PASS_DEFAULTS: dict[str, bool] = {
    "prune_toggles": True,
    "reduce_matchers": True,
    "eliminate_deduplicate_and_merge": True,
    "remove_statically_empty_expressions": True,
    "projection_pushdown": False,
    "common_subexpression_elimination": True,
    "subset_selector_elimination": False,
    "multi_aggregation": True,
    "narrow_binary_selectors": False,
}
NEEDS_CSE = ("subset_selector_elimination", "multi_aggregation")


@dataclass(frozen=True)
class Family:
    """An engine family: which host runs it and which options it takes."""

    name: str
    binary: str  # under the build dir
    host_engine: str  # the engine= name inside the host
    host_args: tuple[str, ...] = ()
    options: tuple[OptionDef, ...] = ()
    passes: bool = False  # takes +PASS/-PASS (MQE)
    kind: str = "host"
    same_build_reference: str = "prometheus"  # what --reference auto picks for it

    def option(self, name: str) -> OptionDef | None:
        return next((o for o in self.options if o.name == name), None)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("prometheus", "prometheus-host", "prometheus", (), (LOOKBACK, DELAYED_NAME_REMOVAL)),
        Family(
            "prometheus-promqltest", "prometheus-host", "prometheus-promqltest", ("--promqltest-engine",),
            (LOOKBACK, PROMQLTEST_DNR),
        ),
        Family(
            "mqe", "mimir-host", "mqe", (), (LOOKBACK, DELAYED_NAME_REMOVAL, PASSES), passes=True,
            same_build_reference="mimir-prometheus",
        ),
        Family(
            "mimir-prometheus", "mimir-host", "mimir-prometheus", (), (LOOKBACK, DELAYED_NAME_REMOVAL),
            same_build_reference="mimir-prometheus",
        ),
        # The Thanos engine has no delayed name removal setting: the option is refused.
        Family("thanos", "thanos-host", "thanos", (), (LOOKBACK, OPTIMIZERS), same_build_reference="thanos-prometheus"),
        Family(
            "thanos-prometheus", "thanos-host", "thanos-prometheus", (), (LOOKBACK, DELAYED_NAME_REMOVAL),
            same_build_reference="thanos-prometheus",
        ),
        Family("prometheus-live", "prometheus-server", "prometheus", kind="live"),
        # VictoriaMetrics single-node started by the suite (promfuzz.engines.victoriametrics).
        Family("victoriametrics-live", "victoria-metrics", "victoriametrics", kind="live"),
        # The Mimir monolith started by the suite, queried through its query-frontend
        # (promfuzz.engines.mimir_live); its same-build reference is the Mimir fork's engine.
        Family("mimir-live", "mimir-server", "mimir-live", kind="live", same_build_reference="mimir-prometheus"),
        # Thanos Receive + Query started by the suite, Query on the Thanos engine
        # (promfuzz.engines.thanos_live); its same-build reference is Thanos's Prometheus engine.
        Family("thanos-live", "thanos", "thanos-live", kind="live", same_build_reference="thanos-prometheus"),
    )
}

# Options that describe the data/semantics rather than the engine's internals: --reference
# auto carries them from the target to its same-build reference, so both sides of a
# comparison run with the same lookback and name-removal semantics.
SHARED_OPTIONS = (LOOKBACK.name, DELAYED_NAME_REMOVAL.name)


# --------------------------------------------------------------------------- values


_DUR_RE = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DUR_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}


def parse_duration_ms(text: str) -> int:
    """A PromQL duration (``30s``, ``1m30s``, ``500ms``) in milliseconds."""
    pos, total = 0, 0
    for m in _DUR_RE.finditer(text):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _DUR_MS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(text)
    return total


def format_duration_ms(ms: int) -> str:
    """Milliseconds as the hosts print them (hours at most, so Go parses it back)."""
    if ms == 0:
        return "0s"
    out = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


_TRUE, _FALSE = {"true", "on", "1", "yes"}, {"false", "off", "0", "no"}


def _norm_value(spec: str, opt: OptionDef, value: str) -> str:
    if opt.kind == "duration":
        try:
            ms = parse_duration_ms(value)
        except ValueError:
            raise ConfigError(f"engine {spec!r}: option {opt.name}={value!r}: expected a duration such as 30s or 5m") from None
        if ms <= 0:
            raise ConfigError(f"engine {spec!r}: option {opt.name}={value!r}: expected a positive duration")
        return format_duration_ms(ms)
    if opt.kind == "bool":
        v = value.lower()
        if v in _TRUE:
            return "true"
        if v in _FALSE:
            return "false"
        raise ConfigError(f"engine {spec!r}: option {opt.name}={value!r}: expected true or false")
    if value not in opt.choices:
        raise ConfigError(f"engine {spec!r}: option {opt.name}={value!r}: expected one of {', '.join(opt.choices)}")
    return value


# ---------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class EngineSpec:
    """A parsed, normalized engine spec."""

    family: str
    options: tuple[tuple[str, str], ...] = ()  # non-default options, normalized, sorted
    passes: tuple[tuple[str, bool], ...] = ()  # MQE: every pass's final state (empty: other families)
    text: str = ""  # the spec as given
    url: str | None = None  # http:<url> specs: the whole name
    given: frozenset[str] = frozenset()  # option keys the text set, defaults included
    revision: str = ""  # FAMILY@REVISION: a module version/commit, or a checkout's absolute path

    @property
    def name(self) -> str:
        """The normalized spec: what reports, the corpus and rules see."""
        if self.url is not None:
            return self.url
        items = [*self._pass_items(), *(f"{k}={v}" for k, v in self.options)]
        base = f"{self.family}@{self.revision}" if self.revision else self.family
        return f"{base}[{','.join(items)}]" if items else base

    def _pass_items(self) -> list[str]:
        if not self.passes:
            return []
        final = dict(self.passes)
        bases = {
            "default": MQE_PASS_DEFAULTS,
            "all": dict.fromkeys(MQE_PASS_DEFAULTS, True),
            "none": dict.fromkeys(MQE_PASS_DEFAULTS, False),
        }
        best: list[str] | None = None
        for base, values in bases.items():  # default first: it wins ties
            diff = [("+" if final[p] else "-") + p for p in MQE_PASS_DEFAULTS if final[p] != values[p]]
            items = ([] if base == "default" else [f"passes={base}"]) + diff
            if best is None or len(items) < len(best):
                best = items
        assert best is not None
        return best

    @property
    def family_def(self) -> Family | None:
        return FAMILIES.get(self.family)

    def option_values(self) -> dict[str, str]:
        """Every option of the family with its effective value (defaults filled in)."""
        fam = self.family_def
        out = {o.name: o.default for o in (fam.options if fam else ())}
        out.update(self.options)
        out.pop(PASSES.name, None)
        for p, on in self.passes:
            out[f"pass.{p}"] = "true" if on else "false"
        return out

    def host_args(self) -> tuple[str, ...]:
        """Command-line arguments of the host process (the family's own, then
        ``--option KEY=VALUE`` for each non-default option: docs/host-protocol.md)."""
        fam = self.family_def
        assert fam is not None
        args = list(fam.host_args)
        for k, v in self.options:
            args += ["--option", f"{k}={v}"]
        if self.passes and dict(self.passes) != MQE_PASS_DEFAULTS:
            # Explicit: every pass's state, so the host does not depend on this table.
            args += ["--option", "passes=none"]
            args += [a for p, on in self.passes if on for a in ("--option", f"pass.{p}=true")]
        return tuple(args)

    def with_options(self, extra: Mapping[str, str]) -> EngineSpec:
        """This spec with options added (used by --reference auto)."""
        items = [f"{k}={v}" for k, v in extra.items()]
        base = f"{self.family}@{self.revision}" if self.revision else self.family
        return parse_spec(f"{base}[{','.join(items)}]") if items else parse_spec(base)


_SPEC_RE = re.compile(r"^(?P<family>[A-Za-z][A-Za-z0-9_-]*)(?P<rev>@[^\[\]]*)?(?:\[(?P<opts>[^\[\]]*)\])?$")


def known_families() -> list[str]:
    return [*FAMILIES, "http:<url>"]


def family_of(name: str) -> str:
    """The family of an engine name or spec (``mqe[-x]`` -> ``mqe``; ``http:...`` as is).
    Known-difference rules match engine globs on this."""
    if name.startswith("http:"):
        return name
    return re.split(r"[@\[]", name, maxsplit=1)[0]


def parse_spec(text: str) -> EngineSpec:
    """Parse and normalize an engine spec; a one-line :class:`ConfigError` for bad input."""
    from promfuzz.errors import UnknownEngineError

    text = text.strip()
    if text.startswith("http:"):
        return EngineSpec("http", text=text, url=text)
    m = _SPEC_RE.match(text)
    if m is None:
        raise ConfigError(
            f"engine {text!r}: expected FAMILY or FAMILY[OPTION,...] (e.g. mqe, mqe[passes=all], "
            f"thanos[optimizers=none]) or http:<url>"
        )
    family = m.group("family")
    fam = FAMILIES.get(family)
    if fam is None:
        raise UnknownEngineError(f"unknown engine {family!r}; known engines: {', '.join(known_families())}")
    revision = ""
    if m.group("rev") is not None:
        from promfuzz.engines.revisions import normalize_revision

        host = fam.binary.split("-")[0] if fam.kind == "host" else ""
        revision = normalize_revision(text, host, m.group("rev")[1:])
    raw = [o.strip() for o in (m.group("opts") or "").split(",") if o.strip()]
    given: dict[str, str] = {}
    toggles: dict[str, bool] = {}
    for item in raw:
        if item[0] in "+-":
            key, val = item[1:], item[0] == "+"
            if not fam.passes:
                raise ConfigError(f"engine {text!r}: {item!r}: +PASS/-PASS is for mqe only; {family} takes {_opt_list(fam)}")
            if key not in MQE_PASS_DEFAULTS:
                raise ConfigError(f"engine {text!r}: unknown MQE pass {key!r}; passes: {', '.join(MQE_PASS_DEFAULTS)}")
            if key in toggles:
                raise ConfigError(f"engine {text!r}: pass {key} given twice")
            toggles[key] = val
            continue
        key, sep, val = item.partition("=")
        if not sep:
            raise ConfigError(f"engine {text!r}: option {item!r}: expected KEY=VALUE" + (" or +PASS/-PASS" if fam.passes else ""))
        if fam.passes and key in MQE_PASS_DEFAULTS:  # narrow_binary_selectors=on
            if key in toggles:
                raise ConfigError(f"engine {text!r}: pass {key} given twice")
            toggles[key] = _norm_value(text, OptionDef(key, "bool", "", ""), val) == "true"
            continue
        opt = fam.option(key)
        if opt is None:
            owners = [f.name for f in FAMILIES.values() if f.option(key) or (f.passes and key in MQE_PASS_DEFAULTS)]
            where = f" (an option of {', '.join(owners)})" if owners else ""
            raise ConfigError(f"engine {text!r}: unknown option {key!r} for {family}{where}; {family} takes {_opt_list(fam)}")
        if key in given:
            raise ConfigError(f"engine {text!r}: option {key} given twice")
        given[key] = _norm_value(text, opt, val)
    passes: tuple[tuple[str, bool], ...] = ()
    if fam.passes:
        base = given.pop(PASSES.name, "default")
        state = {
            "default": dict(MQE_PASS_DEFAULTS),
            "all": dict.fromkeys(MQE_PASS_DEFAULTS, True),
            "none": dict.fromkeys(MQE_PASS_DEFAULTS, False),
        }[base]
        state.update(toggles)
        for p in NEEDS_CSE:
            if state[p] and not state["common_subexpression_elimination"]:
                raise ConfigError(
                    f"engine {text!r}: pass {p} needs common_subexpression_elimination (Mimir's planner refuses it alone)"
                )
        passes = tuple(state.items())
    defaults = {o.name: o.default for o in fam.options}
    options = tuple(sorted((k, v) for k, v in given.items() if v != defaults.get(k)))
    return EngineSpec(
        family, options, passes, text=text, given=frozenset(given) | frozenset(toggles), revision=revision
    )


def _opt_list(fam: Family) -> str:
    names = [o.name for o in fam.options]
    if fam.passes:
        names.append("+PASS/-PASS")
    return ", ".join(names) if names else "no options"


def normalize(text: str) -> str:
    """The normalized name of a spec (``mqe[passes=default]`` -> ``mqe``)."""
    return parse_spec(text).name


def describe_options(family: str) -> dict[str, dict[str, object]]:
    fam = FAMILIES[family]
    out: dict[str, dict[str, object]] = {}
    for o in fam.options:
        d: dict[str, object] = {"default": o.default, "kind": o.kind, "doc": o.doc}
        if o.choices:
            d["choices"] = list(o.choices)
        out[o.name] = d
    if fam.passes:
        for p, on in MQE_PASS_DEFAULTS.items():
            out[f"pass.{p}"] = {
                "default": "true" if on else "false", "kind": "bool",
                "doc": f"MQE optimization pass (spec: +{p} / -{p}); Mimir flag "
                       f"-querier.mimir-query-engine.enable-{p.replace('_', '-')}",
            }
    return out
