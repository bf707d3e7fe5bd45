"""Attribution of one case: ``promfuzz explain CASE.test --engine SPEC [--json]``.

A finding says "the target differs from its reference"; a maintainer then asks whether it
is the engine or the Prometheus version the engine vendors (fork lag), and whether it
happens with the configuration the project ships. :class:`Explainer` replays one case on

* the target's **same-build reference** (``--reference auto``: ``mimir-prometheus`` for
  ``mqe``, ``thanos-prometheus`` for ``thanos``, ``prometheus`` otherwise),
* **upstream Prometheus** (``prometheus``, v0.316.0; skipped when it is the reference),
* the **target** as given, then with **each option toggled one at a time** (every MQE
  optimization pass flipped; the Thanos optimizer levels) and with **all passes off / all
  on** (``passes=none`` / ``passes=all``),
* every **other built revision** of the target (:mod:`promfuzz.engines.revisions`, when
  that module exists; else only the pinned build, and the explanation says so),

judges every answer against the reference and against upstream with the differential
oracle **without** known-difference rules (a rule explains a difference, it does not make
it go away; attribution needs the raw difference), and concludes in one line:

* ``diverges only with narrow_binary_selectors on (off by default)``: the divergence
  appears or disappears with that pass alone;
* ``fork lag: mimir-prometheus differs from prometheus v0.316.0 too``: the target agrees
  with its own build's Prometheus engine, which differs from upstream;
* ``engine: same-build reference agrees with upstream``: the target differs, its
  reference and upstream agree, and no single option changes that;
* ``both: ...`` (the target differs from its reference, which differs from upstream too),
  ``no divergence: ...`` (every engine agrees).

The ``label`` (``engine`` / ``fork-lag`` / ``both`` / ``none``) is what ``promfuzz run
--triage-reference prometheus`` records per finding. Campaigns run :meth:`Explainer.explain`
on every new finding after shrinking, reusing the worker's open engines, within a time
bound (:data:`CAMPAIGN_SECONDS`), and store :meth:`Explanation.to_json_obj` in the
finding's ``explain`` field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from promfuzz.engines.spec import (
    FAMILIES,
    MQE_PASS_DEFAULTS,
    NEEDS_CSE,
    SHARED_OPTIONS,
    EngineSpec,
    parse_spec,
)
from promfuzz.errors import ConfigError, PromfuzzError
from promfuzz.model import Case, Result, encode_float, labels_str

CAMPAIGN_SECONDS = 20.0
"""The time bound of one explanation inside a campaign (the variants not reached are
listed in ``skipped``). Measured: an MQE explanation of a shrunk case (14 engines) takes
about 0.3 s once the hosts run, the first one about 1 s more to start them."""

UPSTREAM = "prometheus"

LABELS = ("engine", "fork-lag", "both", "none")


# ------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    """One engine configuration to replay: its spec name and what it toggles."""

    spec: str
    role: str  # reference | upstream | target | toggle | all-off | all-on | revision
    toggle: str = ""  # "+narrow_binary_selectors", "-prune_toggles", "optimizers=none", a revision


def _spec_text(spec: EngineSpec, passes: Mapping[str, bool] | None = None, **options: str) -> str:
    """The spec ``spec`` with its pass states replaced and options set (others kept)."""
    opts = dict(spec.options)
    opts.update(options)
    items = [f"{k}={v}" for k, v in sorted(opts.items())]
    if passes is not None:
        items = ["passes=none", *(f"+{p}" for p, on in passes.items() if on), *items]
    return f"{spec.family}[{','.join(items)}]" if items else spec.family


def option_variants(target: str) -> list[Variant]:
    """The target with each option toggled alone, then all off / all on (deduplicated,
    never the target itself). MQE: every pass flipped; turning
    ``common_subexpression_elimination`` off also turns off the passes that need it
    (Mimir's planner refuses them alone), turning one of those on also turns it on.
    Thanos: the optimizer levels other than the target's."""
    spec = parse_spec(target)
    out: list[Variant] = []
    if spec.passes:
        state = dict(spec.passes)
        for p in MQE_PASS_DEFAULTS:
            flipped = dict(state)
            flipped[p] = not state[p]
            if p == "common_subexpression_elimination" and not flipped[p]:
                for dep in NEEDS_CSE:
                    flipped[dep] = False
            if p in NEEDS_CSE and flipped[p]:
                flipped["common_subexpression_elimination"] = True
            out.append(Variant(parse_spec(_spec_text(spec, flipped)).name, "toggle", ("+" if flipped[p] else "-") + p))
        out.append(Variant(parse_spec(_spec_text(spec, dict.fromkeys(state, False))).name, "all-off", "passes=none"))
        out.append(Variant(parse_spec(_spec_text(spec, dict.fromkeys(state, True))).name, "all-on", "passes=all"))
    elif spec.family_def is not None and spec.family_def.option("optimizers") is not None:
        current = dict(spec.options).get("optimizers", "default")
        for level in ("none", "default", "all"):
            if level != current:
                out.append(Variant(parse_spec(_spec_text(spec, None, optimizers=level)).name,
                                   "all-off" if level == "none" else "toggle", f"optimizers={level}"))
    seen = {spec.name}
    unique = []
    for v in out:
        if v.spec not in seen:
            seen.add(v.spec)
            unique.append(v)
    return unique


def revision_variants(target: str, build_dir: str | Path | None = None) -> tuple[list[Variant], str]:
    """Every other built revision of the target's host (``.build/revs``, built by
    ``FAMILY@REV`` specs: :mod:`promfuzz.engines.revisions`) as ``FAMILY@REV[options]``,
    and a note when there is none."""
    from promfuzz.engines.registry import default_build_dir

    spec = parse_spec(target)
    fam = spec.family_def
    if fam is None or fam.kind != "host":
        return [], ""
    try:
        from promfuzz.engines.revisions import built_revisions
    except ImportError:
        return [], "only the pinned build: per-revision hosts (promfuzz.engines.revisions) are not available"
    host = fam.binary.split("-")[0]
    # the options part only: a target that has a revision itself must not give FAMILY@Y@X
    inner = spec.name[len(f"{spec.family}@{spec.revision}" if spec.revision else spec.family):]
    out = []
    for b in built_revisions(Path(build_dir) if build_dir is not None else default_build_dir(), host):
        rev = str(b.meta.get("revision", ""))
        if rev and rev != getattr(spec, "revision", None):
            out.append(Variant(f"{spec.family}@{rev}{inner}", "revision", rev))
    return out, "" if out else f"only the pinned build: no other revision of the {host} host is built (build one with {spec.family}@REV)"


def shared_options(target: str) -> dict[str, str]:
    """The target's options that describe semantics (lookback, delayed name removal):
    every engine of an explanation runs with them."""
    spec = parse_spec(target)
    return {k: v for k, v in spec.options if k in SHARED_OPTIONS}


def upstream_spec(target: str, upstream: str = UPSTREAM) -> str:
    """Upstream Prometheus with the target's lookback and delayed-name-removal."""
    up = parse_spec(upstream)
    fam = FAMILIES[up.family]
    extra = {k: v for k, v in shared_options(target).items() if fam.option(k) is not None}
    base = dict(up.options)
    base.update(extra)
    return up.with_options(base).name if base else up.name


# ---------------------------------------------------------------------------- rows


@dataclass
class Row:
    engine: str
    role: str
    toggle: str = ""
    vs_reference: str = ""  # match | divergence | unsupported | engine_failure | reference | error
    vs_upstream: str = ""
    answer: str = ""
    seconds: float = 0.0

    @property
    def differs(self) -> bool:
        return _differs(self.vs_reference)


def _differs(kind: str) -> bool:
    return kind in ("divergence", "engine_failure", "unsupported", "expected", "performance")


@dataclass
class Explanation:
    case: str
    target: str
    reference: str
    upstream: str | None
    upstream_version: str
    rows: list[Row] = field(default_factory=list)
    label: str = "none"  # engine | fork-lag | both | none
    attributed: list[str] = field(default_factory=list)  # "+narrow_binary_selectors" (on makes it diverge)
    conclusion: str = ""
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json_obj(self) -> dict[str, Any]:
        return asdict(self)

    def row(self, role: str) -> Row | None:
        return next((r for r in self.rows if r.role == role), None)

    def format_table(self) -> str:
        """The table (one line per engine) and the conclusion."""
        w = max([len("engine"), *(len(r.engine) for r in self.rows)])
        t = max([len("toggle"), *(len(r.toggle) for r in self.rows)])
        lines = [f"{self.case}: {self.target} judged against {self.reference}"
                 + (f" and upstream {self.upstream} ({self.upstream_version})" if self.upstream else ""),
                 f"{'engine':<{w}}  {'toggle':<{t}}  {'vs reference':<14}  {'vs upstream':<14}  answer"]
        for r in self.rows:
            lines.append(f"{r.engine:<{w}}  {r.toggle:<{t}}  {r.vs_reference:<14}  {r.vs_upstream or '-':<14}  {r.answer}")
        for n in self.notes:
            lines.append(f"note: {n}")
        if self.skipped:
            lines.append(f"skipped (time bound): {', '.join(self.skipped)}")
        lines.append(f"conclusion [{self.label}]: {self.conclusion}")
        return "\n".join(lines) + "\n"


def short_answer(r: Result, limit: int = 90) -> str:
    """One line: ``error(type): message``, ``scalar 3``, ``vector 2: {a="1"} 3, ...``."""
    if r.error is not None:
        text = f"{r.outcome}({r.error.error_type}): {' '.join(r.error.message.split())}"
    elif r.value_type == "scalar" and r.scalar is not None:
        text = f"scalar {encode_float(r.scalar.v) if isinstance(r.scalar.v, float) else 'histogram'}"
    elif r.value_type == "string":
        text = f"string {r.string!r}"
    else:
        parts = []
        for s in r.series[:3]:
            vals = [encode_float(p.v) if isinstance(p.v, float) else "{hist}" for p in s.points[:3]]
            more = "…" if len(s.points) > 3 else ""
            parts.append(f"{labels_str(s.labels)} {' '.join(vals)}{more}")
        text = f"{r.value_type or 'vector'} {len(r.series)}" + (": " + ", ".join(parts) if parts else "")
        if len(r.series) > 3:
            text += ", …"
    notes = len(r.warnings) + len(r.infos)
    if notes:
        text += f" [+{len(r.warnings)}w {len(r.infos)}i]"
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------ explainer


class Explainer:
    """Replays cases on the engines of an explanation. Engines are opened lazily through
    one :class:`~promfuzz.engines.registry.EngineRegistry` and kept for later cases (a
    campaign worker keeps one explainer); ``engines`` are already-open engines to reuse by
    name (the worker's reference and target), never closed here."""

    def __init__(self, engines: Mapping[str, Any] | None = None, *, build_dir: str | Path | None = None,
                 opener: Callable[[str], Any] | None = None, upstream: str = UPSTREAM) -> None:
        from promfuzz.oracles.differential import DifferentialOracle

        self._given = dict(engines or {})
        self._opened: dict[str, Any] = {}
        self._opener = opener
        self._registry: Any = None
        self._build_dir = build_dir
        self.upstream = upstream
        self.oracle = DifferentialOracle()  # no rules: attribution needs the raw difference
        self._revision_cache: dict[str, tuple[list[Variant], str]] = {}

    def engine(self, name: str) -> Any:
        if name in self._given:
            return self._given[name]
        eng = self._opened.get(name)
        if eng is None:
            if self._opener is not None:
                eng = self._opener(name)
            else:
                if self._registry is None:
                    from promfuzz.engines.registry import EngineRegistry

                    self._registry = EngineRegistry(self._build_dir)
                eng = self._registry.open(name)
            self._opened[name] = eng
        return eng

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
            self._registry = None
        elif self._opener is not None:
            for e in self._opened.values():
                try:
                    e.close()
                except Exception:  # noqa: BLE001 - closing must not mask the real error
                    pass
        self._opened.clear()

    def __enter__(self) -> Explainer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -------------------------------------------------------------- one case
    def _answer(self, name: str, case: Case) -> tuple[Result | None, str, float]:
        t0 = time.monotonic()
        try:
            eng = self.engine(name)
            eng.load(case.dataset)
            r = eng.query(case.query, case.params)
        except (PromfuzzError, OSError) as e:
            return None, " ".join(str(e).split())[:200], time.monotonic() - t0
        return r, "", time.monotonic() - t0

    def _judge(self, case: Case, ref: Result | None, r: Result | None, ref_name: str) -> str:
        if ref is None or r is None:
            return "error"

        def operand(text: str) -> Result | None:
            eng = self.engine(ref_name)
            eng.load(case.dataset)
            return eng.query(text, case.params)

        return self.oracle.check(case, ref, r, detail=False, operand=operand).kind

    def explain(self, case: Case, target: str, *, name: str = "<case>", seconds: float | None = None,
                variants: bool = True, revisions: bool = True, reference: str | None = None) -> Explanation:
        """Replay ``case`` on every engine of the explanation of ``target`` (see the module
        docstring) and conclude. ``seconds`` bounds the time (the rows not reached are
        listed in ``skipped``); ``variants=False`` replays only reference, upstream and
        target (what ``--triage-reference`` needs). ``reference`` overrides the
        same-build reference (an explicit ``--reference``)."""
        from promfuzz.engines.registry import resolve_reference

        t0 = time.monotonic()
        spec = parse_spec(target)
        if spec.family_def is None or spec.url is not None:
            raise ConfigError(f"explain: {target!r} is not an engine family promfuzz builds (an http: target has no options to toggle)")
        if case.params.lookback_ms is not None and "lookback" not in spec.given:
            from promfuzz.engines.registry import spec_with_lookback

            spec = parse_spec(spec_with_lookback(spec.name, case.params.lookback_ms))  # every engine runs under it
        ref_name = reference or resolve_reference("auto", spec.name)
        if reference and case.params.lookback_ms is not None and not reference.startswith("http:"):
            from promfuzz.engines.registry import spec_with_lookback

            ref_name = spec_with_lookback(reference, case.params.lookback_ms)
        up_name: str | None = upstream_spec(spec.name, self.upstream)
        if up_name == ref_name:
            up_name = None
        ex = Explanation(name, spec.name, ref_name, up_name, "")
        plan = [Variant(ref_name, "reference")]
        if up_name is not None:
            plan.append(Variant(up_name, "upstream"))
        plan.append(Variant(spec.name, "target"))
        if variants:
            plan += option_variants(spec.name)
        if revisions:
            if spec.name not in self._revision_cache:
                self._revision_cache[spec.name] = revision_variants(spec.name, self._build_dir)
            revs, note = self._revision_cache[spec.name]
            plan += revs
            if note:
                ex.notes.append(note)
        got: list[tuple[Variant, Result | None]] = []
        for k, v in enumerate(plan):
            if seconds is not None and k > 2 and time.monotonic() - t0 > seconds:
                ex.skipped = [p.spec for p in plan[k:]]
                break
            r, err, dt = self._answer(v.spec, case)
            got.append((v, r))
            ex.rows.append(Row(v.spec, v.role, v.toggle, answer=short_answer(r) if r is not None else f"error: {err}",
                               seconds=round(dt, 3)))
        ref = next((r for v, r in got if v.role == "reference"), None)
        up = next((r for v, r in got if v.role == "upstream"), None)
        for (v, r), row in zip(got, ex.rows, strict=True):
            row.vs_reference = "reference" if v.role == "reference" else self._judge(case, ref, r, ref_name)
            if up_name is not None:
                row.vs_upstream = "upstream" if v.role == "upstream" else self._judge(case, up, r, up_name)
        if up_name is not None:
            ex.upstream_version = _module_version(self.engine(up_name), "prometheus")
        ex.seconds = round(time.monotonic() - t0, 3)
        conclude(ex)
        return ex


def _module_version(engine: Any, key: str) -> str:
    try:
        vers = engine.versions()
    except Exception:  # noqa: BLE001 - a version is decoration
        return ""
    for mod, ver in vers.items():
        if mod.rstrip("/").endswith(key):
            return str(ver).rsplit(" ", 1)[-1]
    return ""


# ----------------------------------------------------------------------- conclusion


def _pass_default(toggle: str, family: str) -> str:
    name = toggle.lstrip("+-")
    if family == "mqe" and name in MQE_PASS_DEFAULTS:
        return "on by default" if MQE_PASS_DEFAULTS[name] else "off by default"
    return ""


def _words(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def conclude(ex: Explanation) -> None:
    """Set ``label``, ``attributed`` and ``conclusion`` from the rows."""
    target, ref, up = ex.row("target"), ex.row("reference"), ex.row("upstream")
    family = ex.target.split("[", 1)[0]
    if target is None or ref is None or target.vs_reference == "error" or ref.answer.startswith("error:"):
        ex.label, ex.conclusion = "none", "not explained: " + next(
            (r.answer for r in ex.rows if r.vs_reference == "error" or r.answer.startswith("error:")), "no answers")
        return
    t_ref = target.differs
    r_up = up is not None and _differs(up.vs_reference)
    t_up = up is not None and _differs(target.vs_upstream)
    if t_ref and not r_up:
        ex.label = "engine"
    elif t_ref and r_up:
        ex.label = "both" if t_up else "fork-lag"
    elif r_up:
        ex.label = "fork-lag"
    else:
        ex.label = "none"
    upname = f"{ex.upstream} {ex.upstream_version}".strip() if ex.upstream else ""
    layer = {
        "engine": f"engine: same-build reference agrees with upstream{' ' + upname if upname else ''}, "
                  f"{ex.target} differs",
        "fork-lag": (f"fork lag: {ex.reference} differs from {upname} too"
                     + (f" ({ex.target} agrees with upstream)" if t_ref and not t_up else "")),
        "both": f"both: {ex.target} differs from {ex.reference}, which differs from {upname} too",
        "none": f"no divergence: {ex.target} agrees with {ex.reference}"
                + (f" and {ex.reference} with {upname}" if upname else ""),
    }[ex.label]
    if not ex.upstream and ex.label == "engine":
        layer = f"engine: {ex.target} differs from {ex.reference} (no upstream to compare with)"
    toggles = [r for r in ex.rows if r.role == "toggle" and r.vs_reference != "error"]
    flips = [r.toggle for r in toggles if r.differs != t_ref]
    all_off, all_on = ex.row("all-off"), ex.row("all-on")
    part = ""
    if t_ref:
        # Which single toggle removes the divergence: those passes must all be on (off).
        if flips:
            on = [f.lstrip("-") for f in flips if f.startswith("-")]
            off = [f.lstrip("+") for f in flips if f.startswith("+")]
            bits = []
            if on:
                bits.append(f"{_words(on)} on" + _defaults_note(on, family))
            if off:
                bits.append(f"{_words(off)} off" + _defaults_note(off, family))
            other = [f for f in flips if not f.startswith(("+", "-"))]
            part = ("diverges only with " + " and ".join(bits)) if bits else ""
            if other:
                part = (part + "; " if part else "") + "diverges except with " + _words(other)
            ex.attributed = [("+" + f[1:] if f.startswith("-") else "-" + f[1:]) if f[:1] in "+-" else f for f in flips]
        elif all_off is not None and not all_off.differs and all_off.vs_reference != "error":
            part = f"diverges only with optimizations on ({all_off.toggle} agrees; no single toggle alone removes it)"
            ex.attributed = ["passes" if family == "mqe" else "optimizers"]
    else:
        if flips:
            bits = [f"{f.lstrip('+-')} {'on' if f.startswith('+') else 'off'}" + _defaults_note([f.lstrip('+-')], family)
                    if f[:1] in "+-" else f for f in flips]
            part = "diverges only with " + " or ".join(bits)
            ex.attributed = list(flips)
        elif all_on is not None and all_on.differs:
            part = f"diverges only with {all_on.toggle} (no single pass alone)"
            ex.attributed = [all_on.toggle]
        elif all_off is not None and all_off.differs:
            part = f"diverges only with {all_off.toggle}"
            ex.attributed = [all_off.toggle]
    if part and ex.attributed and ex.label == "none":
        ex.label = "engine" if not r_up else "both"
    revs = [r for r in ex.rows if r.role == "revision" and r.vs_reference != "error"]
    fixed = [r.toggle for r in revs if r.differs != t_ref]
    rev_part = ""
    if fixed:
        rev_part = ("fixed in " if t_ref else "diverges in ") + ", ".join(fixed)
    pieces = [p for p in (part, rev_part) if p]
    if not part:
        pieces.insert(0, layer)
    elif ex.label in ("fork-lag", "both"):
        pieces.append(layer)
    ex.conclusion = "; ".join(pieces)


def _defaults_note(passes: Sequence[str], family: str) -> str:
    notes = {_pass_default(p, family) for p in passes} - {""}
    return f" ({notes.pop()})" if len(notes) == 1 else ""


# ------------------------------------------------------------------------------ CLI


def read_case_file(path: str | Path) -> Case:
    """The one case of a ``.test`` file (a corpus case or any one-eval promqltest file)."""
    from promfuzz.shrink.cli import read_single_case

    return read_single_case(path)


def explain_file(path: str | Path, engine: str, *, reference: str | None = None,
                 seconds: float | None = None) -> Explanation:
    case = read_case_file(path)
    with Explainer() as ex:
        return ex.explain(case, engine, name=str(path), seconds=seconds, reference=reference)


def format_json(ex: Explanation) -> str:
    return json.dumps(ex.to_json_obj(), indent=2, sort_keys=True) + "\n"
