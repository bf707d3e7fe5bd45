"""Every engine family stores exactly the same data: identical dump fingerprints.

The Prometheus engines of the three hosts (upstream v0.316.0, Mimir's fork, Thanos's
v0.308.0) and the live server load one generated dataset (floats, stale markers, NaN,
infinities, native and custom-bucket histograms, gaps); their dumps must be identical,
so any later difference in answers comes from the engines, not from loading.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from promfuzz.engines.registry import EngineRegistry
from promfuzz.generators.choices import RandomChoices
from promfuzz.generators.datasets import DatasetConfig, generate_dataset
from promfuzz.model import Histogram, is_stale

pytestmark = [pytest.mark.hosts, pytest.mark.live]


def test_prometheus_engines_of_every_host_and_the_live_server_store_the_same_data(
    real_binary_module: Callable[[str], Path],
) -> None:
    build = real_binary_module("prometheus-host").parent
    for b in ("mimir-host", "thanos-host", "prometheus-server"):
        real_binary_module(b)
    ds = generate_dataset(RandomChoices(7), DatasetConfig())
    samples = [x.v for s in ds.series for x in s.samples]
    assert any(isinstance(v, Histogram) for v in samples)
    assert any(isinstance(v, float) and is_stale(v) for v in samples)
    ds = type(ds)(tuple(s for s in ds.series if s.name))  # remote write refuses nameless series
    fingerprints = {}
    with EngineRegistry(build_dir=build) as reg:
        for name in ("prometheus", "mimir-prometheus", "thanos-prometheus", "prometheus-live"):
            eng = reg.open(name)
            eng.load(ds)
            dump = eng.dump()
            assert dump is not None, name
            assert dump.sample_count == ds.sample_count, name
            fingerprints[name] = dump.storage_fingerprint()
    assert len(set(fingerprints.values())) == 1, fingerprints
