"""A Prometheus query API request as the tee sees it: path, form, evaluation parameters.

Prometheus reads the same parameters from the URL query string and, for POST, from an
``application/x-www-form-urlencoded`` body (``r.FormValue``); both are merged here,
the body first as Go does. Times are float Unix seconds or RFC 3339; ``step`` a float of
seconds or a Prometheus duration (``15s``, ``1m``).

Nothing here is ever logged with headers: an :class:`ApiRequest` holds only the path and
the form, which is what the corpus records of a live request.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from promfuzz.errors import InputError
from promfuzz.model import EvalParams

QUERY_PATH = "/api/v1/query"
RANGE_PATH = "/api/v1/query_range"
PASS_THROUGH = (
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/metadata",
    "/api/v1/status/buildinfo",
)
_LABEL_VALUES_RE = re.compile(r"^/api/v1/label/[^/]+/values$")

Form = tuple[tuple[str, str], ...]


class RequestError(InputError):
    """A query API request the tee cannot turn into evaluation parameters (it is still
    passed through to the primary: the primary decides what to answer)."""


def api_kind(path: str) -> str | None:
    """``query`` / ``query_range`` (compared), ``pass`` (only passed through) or None (not
    part of the proxied API)."""
    if path == QUERY_PATH:
        return "query"
    if path == RANGE_PATH:
        return "query_range"
    if path in PASS_THROUGH or _LABEL_VALUES_RE.match(path):
        return "pass"
    return None


def path_label(path: str) -> str:
    """The ``path`` label of the request counter: label-values paths as one template, so a
    label name never becomes a metric label value (bounded cardinality)."""
    if _LABEL_VALUES_RE.match(path):
        return "/api/v1/label/:name/values"
    return path if api_kind(path) is not None else "other"


def parse_form(query_string: str, body: bytes = b"", content_type: str = "") -> Form:
    """URL query parameters plus an urlencoded POST body (body values first, as Go's
    ``FormValue`` prefers them)."""
    pairs: list[tuple[str, str]] = []
    if body and content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        pairs.extend(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    pairs.extend(parse_qsl(query_string, keep_blank_values=True))
    return tuple(pairs)


def form_value(form: Form, key: str) -> str | None:
    for k, v in form:
        if k == key:
            return v
    return None


_DUR_RE = re.compile(r"^(?:\d+(?:ms|[smhdwy]))+$")


def parse_api_time(text: str, what: str = "time") -> int:
    """Prometheus API time (float seconds or RFC 3339) to milliseconds."""
    s = text.strip()
    try:
        v = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(v):
            raise RequestError(f"{what}: expected a finite Unix time in seconds, got {text!r}")
        return round(v * 1000)
    try:
        d = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError as e:
        raise RequestError(f"{what}: expected Unix seconds or an RFC 3339 time, got {text!r}") from e
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.UTC)
    return round(d.timestamp() * 1000)


def parse_api_duration(text: str, what: str = "step") -> int:
    """A step or lookback: float seconds or a Prometheus duration, to milliseconds."""
    s = text.strip()
    try:
        v = float(s)
    except ValueError:
        if not _DUR_RE.match(s):
            raise RequestError(f"{what}: expected seconds or a duration such as 15s, got {text!r}") from None
        from promfuzz.engines.spec import parse_duration_ms

        return parse_duration_ms(s)
    if not math.isfinite(v) or v <= 0:
        raise RequestError(f"{what}: expected a positive number of seconds, got {text!r}")
    return round(v * 1000)


@dataclass(frozen=True)
class ApiRequest:
    """One query API request: ``kind`` is ``query`` or ``query_range``; ``received_ms`` the
    wall-clock time it reached the tee (the window and a missing ``time`` use it)."""

    method: str
    path: str
    form: Form
    received_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    @property
    def kind(self) -> str | None:
        return api_kind(self.path)

    @property
    def query(self) -> str | None:
        return form_value(self.form, "query")

    def params(self) -> EvalParams:
        """The evaluation parameters, as Prometheus reads them."""
        if self.kind == "query":
            t = form_value(self.form, "time")
            p = EvalParams.instant(parse_api_time(t) if t else self.received_ms)
        elif self.kind == "query_range":
            missing = [k for k in ("start", "end", "step") if not form_value(self.form, k)]
            if missing:
                raise RequestError(f"query_range without {', '.join(missing)}")
            start = parse_api_time(form_value(self.form, "start") or "", "start")
            end = parse_api_time(form_value(self.form, "end") or "", "end")
            step = parse_api_duration(form_value(self.form, "step") or "", "step")
            if end < start:
                raise RequestError("query_range: end is before start")
            p = EvalParams.range(start, end, step)
        else:
            raise RequestError(f"{self.path} is not a query endpoint")
        lb = form_value(self.form, "lookback_delta")
        if lb:
            p = p.with_lookback(parse_api_duration(lb, "lookback_delta"))
        return p

    def pinned_form(self) -> Form:
        """The form with an explicit ``time`` for an instant query that had none, so the
        secondary evaluates at the same instant as the primary did."""
        if self.kind == "query" and not form_value(self.form, "time"):
            return (*self.form, ("time", f"{self.received_ms / 1000:.3f}"))
        return self.form

    def to_json_obj(self) -> dict[str, Any]:
        """What the corpus records of the request (no headers: no credentials)."""
        return {"method": self.method, "path": self.path, "form": [list(p) for p in self.form],
                "received_ms": self.received_ms}

    @staticmethod
    def from_params(query: str, params: EvalParams, received_ms: int | None = None,
                    extra: Sequence[tuple[str, str]] = ()) -> ApiRequest:
        """The request that asks ``query`` under ``params`` (replay-log builds these)."""
        from promfuzz.model import ms_to_api_time

        if params.is_range:
            form: list[tuple[str, str]] = [("query", query), ("start", ms_to_api_time(params.start_ms)),
                                           ("end", ms_to_api_time(params.end_ms)),
                                           ("step", ms_to_api_time(params.step_ms))]
            path = RANGE_PATH
        else:
            form = [("query", query), ("time", ms_to_api_time(params.time_ms))]
            path = QUERY_PATH
        if params.lookback_ms is not None:
            form.append(("lookback_delta", ms_to_api_time(params.lookback_ms)))
        form.extend(extra)
        return ApiRequest("POST", path, tuple(form),
                          received_ms if received_ms is not None else int(time.time() * 1000))


def form_dict(form: Form) -> Mapping[str, str]:
    return dict(form)
