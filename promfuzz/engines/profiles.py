"""Target profiles: what kind of server an ``http:`` target is.

``--target vm=http:http://127.0.0.1:8428?profile=victoriametrics``. A profile chooses

* the **loader** (how a dataset gets in) and the write path;
* the **isolation** between datasets (and shrink candidates): ``delete`` (the server's
  delete API, then a read-back proving it is empty), ``tenant`` (a fresh
  ``X-Scope-OrgID`` per dataset), ``none`` (nothing: refused for campaigns and
  shrinking unless ``--shared-target``), ``restart`` (servers promfuzz starts itself);
* the **read-back** that verifies every load (``export``: VictoriaMetrics
  ``/api/v1/export``; ``remote_read``; ``query``: every raw sample through the query API
  as one range-vector selector, for targets without remote read such as Thanos Query;
  ``none``);
* API quirks: a time shift (VictoriaMetrics refuses samples before 1970-01-02), extra
  query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from promfuzz.errors import ConfigError

ISOLATIONS = ("restart", "delete", "tenant", "none")


@dataclass(frozen=True)
class Profile:
    name: str
    loader: str  # remote_write | victoriametrics_import | none
    isolation: str
    readback: str  # export | remote_read | query | none
    write_path: str = "/api/v1/write"
    read_path: str = "/api/v1/read"
    shift_ms: int = 0
    query_extra: tuple[tuple[str, str], ...] = field(default=())
    doc: str = ""
    tenant_header: str = "X-Scope-OrgID"  # the header a ``tenant`` isolation sets (Thanos: THANOS-TENANT)


VM_SHIFT_MS = 86_400_000
"""VictoriaMetrics refuses samples before 1970-01-02 ("minimum allowed timestamp is
86400000" with any retention reaching 1970), so its profile moves every dataset and
evaluation time one day later and the answers back (promfuzz.engines.victoriametrics)."""

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "victoriametrics", "remote_write", "delete", "export", shift_ms=VM_SHIFT_MS,
            query_extra=(("nocache", "1"),),
            doc="VictoriaMetrics single-node: remote write + force_flush, /api/v1/export read-back, "
                "delete_series between datasets, times shifted by one day",
        ),
        Profile("prometheus", "remote_write", "delete", "remote_read",
                doc="Prometheus with --web.enable-remote-write-receiver and --web.enable-admin-api"),
        Profile("mimir", "remote_write", "tenant", "remote_read", write_path="/api/v1/push",
                doc="Grafana Mimir: push to /api/v1/push, a fresh tenant per dataset"),
        Profile("cortex", "remote_write", "tenant", "remote_read", write_path="/api/v1/push",
                doc="Cortex: push to /api/v1/push, a fresh tenant per dataset"),
        Profile("thanos", "remote_write", "tenant", "query", write_path="/api/v1/receive",
                tenant_header="THANOS-TENANT",
                doc="Thanos Receive (write_url=) + Query (--query.enforce-tenancy), a fresh THANOS-TENANT per "
                    "dataset, read back by a range-vector query"),
        Profile("generic", "remote_write", "none", "remote_read",
                doc="any Prometheus-compatible API; no isolation (needs --shared-target for a campaign)"),
    )
}


def get_profile(name: str) -> Profile:
    p = PROFILES.get(name)
    if p is None:
        raise ConfigError(f"unknown target profile {name!r}; known: {', '.join(PROFILES)}")
    return p


def carried(dataset: object, engines: object) -> object:
    """The dataset as every target stores it (each target's ``carry``: VictoriaMetrics
    leaves NaN and native histograms out), so the reference is given the same data and
    a comparison never reports what the target cannot store."""
    for e in engines:  # type: ignore[attr-defined]
        fn = getattr(e, "carry", None)
        if fn is not None:
            dataset = fn(dataset)[0]
    return dataset
