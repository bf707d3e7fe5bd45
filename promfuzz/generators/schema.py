"""What the query generator needs to know about a dataset: its metrics and labels.

:meth:`DatasetSchema.from_dataset` reads any :class:`~promfuzz.model.Dataset` (generated or
loaded from a corpus), so queries can be generated for data we did not make;
:meth:`DatasetSchema.default` is a plausible schema when there is no dataset at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from promfuzz.model import Dataset, Histogram

MetricKind = Literal["float", "histogram", "mixed"]


@dataclass(frozen=True)
class MetricInfo:
    """One metric name: what its samples hold and which labels its series carry."""

    name: str
    kind: MetricKind
    label_names: tuple[str, ...]
    series: int = 1

    @property
    def classic_bucket(self) -> bool:
        """A classic histogram bucket series (``*_bucket`` with ``le``)."""
        return self.name.endswith("_bucket") and "le" in self.label_names

    @property
    def counter_like(self) -> bool:
        return self.name.endswith(("_total", "_count", "_sum", "_bucket")) or self.kind != "float"


@dataclass(frozen=True)
class DatasetSchema:
    """Metric names, label names and label values of a dataset, plus its time span."""

    metrics: tuple[MetricInfo, ...]
    label_values: tuple[tuple[str, tuple[str, ...]], ...]
    """(label name, its values) for every label name but ``__name__``, sorted."""
    start_ms: int = 0
    end_ms: int = 3_600_000
    interval_ms: int = 15_000
    """The most common distance between consecutive samples."""

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.label_values)

    def values_of(self, label: str) -> tuple[str, ...]:
        for k, v in self.label_values:
            if k == label:
                return v
        return ()

    def metrics_of(self, *kinds: MetricKind) -> tuple[MetricInfo, ...]:
        return tuple(m for m in self.metrics if m.kind in kinds)

    @staticmethod
    def from_dataset(ds: Dataset) -> DatasetSchema:
        by_name: dict[str, dict[str, object]] = {}
        values: dict[str, set[str]] = {}
        gaps: dict[int, int] = {}
        for s in ds.series:
            labels = dict(s.labels)
            name = labels.pop("__name__", "")
            info = by_name.setdefault(name, {"f": False, "h": False, "labels": set(), "n": 0})
            info["n"] = int(info["n"]) + 1  # type: ignore[call-overload]
            names = info["labels"]
            assert isinstance(names, set)
            names.update(labels)
            for k, v in labels.items():
                values.setdefault(k, set()).add(v)
            for x in s.samples:
                if isinstance(x.v, Histogram):
                    info["h"] = True
                else:
                    info["f"] = True
            for a, b in zip(s.samples, s.samples[1:], strict=False):
                d = b.t - a.t
                gaps[d] = gaps.get(d, 0) + 1
        metrics = []
        for name in sorted(by_name):
            if not name:
                continue
            info = by_name[name]
            kind: MetricKind = "mixed" if info["f"] and info["h"] else "histogram" if info["h"] else "float"
            names = info["labels"]
            assert isinstance(names, set)
            metrics.append(MetricInfo(name, kind, tuple(sorted(names)), int(info["n"])))  # type: ignore[call-overload]
        start, end = ds.time_range()
        interval = max(gaps, key=lambda d: (gaps[d], -d)) if gaps else 15_000
        return DatasetSchema(
            metrics=tuple(metrics),
            label_values=tuple((k, tuple(sorted(v))) for k, v in sorted(values.items())),
            start_ms=start,
            end_ms=end,
            interval_ms=interval,
        )

    @staticmethod
    def default() -> DatasetSchema:
        """A schema shaped like the generated datasets, for generating queries without data."""
        lv = (
            ("code", ("200", "500")),
            ("instance", ("a:1", "a:2", "b:1")),
            ("job", ("api", "db")),
            ("le", ("0.1", "1", "+Inf")),
        )
        return DatasetSchema(
            metrics=(
                MetricInfo("http_requests_total", "float", ("code", "instance", "job"), 6),
                MetricInfo("process_memory_bytes", "float", ("instance", "job"), 3),
                MetricInfo("request_duration_seconds_bucket", "float", ("instance", "job", "le"), 6),
                MetricInfo("request_duration_seconds_count", "float", ("instance", "job"), 2),
                MetricInfo("request_duration_seconds_sum", "float", ("instance", "job"), 2),
                MetricInfo("request_duration_native", "histogram", ("instance", "job"), 2),
                MetricInfo("up", "float", ("instance", "job"), 3),
                MetricInfo("target_info", "float", ("instance", "job"), 2),
            ),
            label_values=lv,
        )
