"""Generated datasets are deterministic, valid and carry the awkward features."""

from __future__ import annotations

import math

from promfuzz.generators.choices import AtherisChoices, RandomChoices
from promfuzz.generators.datasets import DatasetConfig, dataset_problems, generate_dataset, histogram_problems
from promfuzz.model import Dataset, Histogram, is_stale


def test_same_seed_gives_identical_dataset() -> None:
    a = generate_dataset(RandomChoices(11))
    b = generate_dataset(RandomChoices(11))
    assert a.to_json() == b.to_json()


def test_different_seed_gives_different_dataset() -> None:
    assert generate_dataset(RandomChoices(11)).to_json() != generate_dataset(RandomChoices(12)).to_json()


def test_generated_datasets_are_valid() -> None:
    for seed in range(40):
        ds = generate_dataset(RandomChoices(seed))
        assert dataset_problems(ds) == [], seed
        assert ds.time_range()[0] >= 0
        if seed < 4:
            # Round trip through the canonical JSON (what the hosts read).
            assert Dataset.from_json(ds.to_json()) == ds


def test_dataset_size_follows_config() -> None:
    cfg = DatasetConfig()
    for seed in range(20):
        ds = generate_dataset(RandomChoices(seed), cfg)
        assert cfg.min_series <= len(ds.series)
        assert ds.time_range()[1] <= cfg.duration_ms + 60_000


def test_histogram_problems_detects_inconsistent_histograms() -> None:
    good = Histogram(schema=0, count=3, sum=1, positive_spans=((0, 2),), positive_buckets=(1, 2))
    assert histogram_problems(good) == []
    assert histogram_problems(
        Histogram(schema=0, count=4, sum=1, positive_spans=((0, 2),), positive_buckets=(1, 2))
    )
    assert histogram_problems(
        Histogram(schema=0, count=3, sum=1, positive_spans=((0, 1),), positive_buckets=(1, 2))
    )
    assert histogram_problems(
        Histogram(
            schema=-53,
            count=3,
            sum=1,
            positive_spans=((0, 2),),
            positive_buckets=(1, 2),
            custom_values=(2, 1),
        )
    )
    assert histogram_problems(Histogram(schema=9, count=0, sum=0))


def test_datasets_cover_the_awkward_features() -> None:
    seen: set[str] = set()
    for seed in range(40):
        for s in generate_dataset(RandomChoices(seed)).series:
            name = s.name
            labels = dict(s.labels)
            if name.endswith("_total"):
                seen.add("total suffix")
            if name.endswith("_bucket") and labels.get("le") == "+Inf":
                seen.add("classic +Inf bucket")
            if not name.isascii() or "." in name:
                seen.add("utf8 name")
            ts = [x.t for x in s.samples]
            if any(b - a > 5 * 60_000 for a, b in zip(ts, ts[1:], strict=False)):
                seen.add("gap over lookback")
            if any(t % 15_000 for t in ts):
                seen.add("jitter")
            kinds = set()
            prev_f: float | None = None
            for x in s.samples:
                v = x.v
                if isinstance(v, Histogram):
                    kinds.add("h")
                    if v.schema == -53:
                        seen.add("custom buckets")
                    elif v.schema < 0:
                        seen.add("negative schema")
                    if v.negative_buckets:
                        seen.add("negative buckets")
                    if v.zero_count:
                        seen.add("zero bucket")
                    if v.counter_reset_hint == "gauge":
                        seen.add("gauge histogram")
                    if v.counter_reset_hint == "reset":
                        seen.add("histogram reset hint")
                else:
                    kinds.add("f")
                    if is_stale(v):
                        seen.add("stale")
                    elif math.isnan(v):
                        seen.add("nan")
                    elif math.isinf(v):
                        seen.add("inf")
                    elif v != 0 and (abs(v) > 1e100 or abs(v) < 1e-100):
                        seen.add("extreme")
                    elif v < 0:
                        seen.add("negative")
                    if prev_f is not None and name.endswith("_total") and math.isfinite(v) and v < prev_f:
                        seen.add("counter reset")
                    if math.isfinite(v):
                        prev_f = v
            if kinds == {"f", "h"}:
                seen.add("mixed floats and histograms")
    expected = {
        "total suffix",
        "classic +Inf bucket",
        "utf8 name",
        "gap over lookback",
        "jitter",
        "custom buckets",
        "negative schema",
        "negative buckets",
        "zero bucket",
        "gauge histogram",
        "histogram reset hint",
        "stale",
        "nan",
        "inf",
        "extreme",
        "negative",
        "counter reset",
        "mixed floats and histograms",
    }
    assert expected - seen == set()


def test_toggles_remove_histograms() -> None:
    cfg = DatasetConfig(native_histograms=False, classic_histograms=False)
    for seed in range(20):
        for s in generate_dataset(RandomChoices(seed), cfg).series:
            assert not any(isinstance(x.v, Histogram) for x in s.samples)
            assert "le" not in dict(s.labels)


def test_dataset_from_exhausted_atheris_input_is_valid() -> None:
    for data in (b"", b"\x00", b"\xff" * 7, bytes(range(64))):
        ds = generate_dataset(AtherisChoices(data), DatasetConfig.small())
        assert dataset_problems(ds) == []
