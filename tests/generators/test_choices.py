"""Behaviour of the Choices drivers."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promfuzz.generators.choices import AtherisChoices, Choices, HypothesisChoices, RandomChoices


def _draw_many(c: Choices, n: int = 200) -> list[object]:
    out: list[object] = []
    for _ in range(n):
        out.append(c.integer(-5, 5))
        out.append(c.boolean(0.3))
        out.append(c.choice("abcdef"))
        out.append(c.weighted({"x": 1.0, "y": 0.0, "z": 2.0}))
        out.append(repr(c.floating()))
    return out


def test_random_choices_same_seed_same_draws() -> None:
    assert _draw_many(RandomChoices(7)) == _draw_many(RandomChoices(7))


def test_random_choices_different_seed_different_draws() -> None:
    assert _draw_many(RandomChoices(7)) != _draw_many(RandomChoices(8))


def test_weighted_never_picks_zero_weight() -> None:
    c = RandomChoices(1)
    picks = {c.weighted([("a", 0.0), ("b", 1.0), ("c", 0.0), ("d", 1.0)]) for _ in range(2000)}
    assert picks == {"b", "d"}


def test_weighted_follows_weights() -> None:
    c = RandomChoices(2)
    picks = [c.weighted({"rare": 1.0, "common": 9.0}) for _ in range(5000)]
    share = picks.count("rare") / len(picks)
    assert 0.07 < share < 0.13


def test_boolean_extremes_are_certain() -> None:
    c = RandomChoices(3)
    assert not any(c.boolean(0.0) for _ in range(500))
    assert all(c.boolean(1.0) for _ in range(500))


def test_integer_stays_in_range_and_reaches_bounds() -> None:
    c = RandomChoices(4)
    seen = {c.integer(-3, 3) for _ in range(2000)}
    assert seen == set(range(-3, 4))


def test_floating_produces_special_values_and_magnitudes() -> None:
    c = RandomChoices(5)
    xs = [c.floating(special=0.2, extreme=0.1) for _ in range(5000)]
    assert any(math.isnan(x) for x in xs)
    assert math.inf in xs and -math.inf in xs
    assert any(x == 0 and math.copysign(1, x) < 0 for x in xs)
    assert any(x != 0 and abs(x) < 1e-200 for x in xs if not math.isnan(x))
    assert any(abs(x) > 1e200 for x in xs if not math.isnan(x) and not math.isinf(x))
    assert any(x == int(x) for x in xs if math.isfinite(x))


def test_floating_respects_flags() -> None:
    c = RandomChoices(6)
    xs = [c.floating(0, 10, special=0.5, extreme=0.0, allow_nan=False, allow_inf=False) for _ in range(2000)]
    assert all(math.isfinite(x) and 0 <= x <= 10 for x in xs)


def test_subset_is_distinct_and_bounded() -> None:
    c = RandomChoices(7)
    for _ in range(200):
        s = c.subset(range(10), max_size=4, min_size=1)
        assert 1 <= len(s) <= 4 and len(set(s)) == len(s)


def test_atheris_choices_simplest_answers_when_bytes_run_out() -> None:
    c = AtherisChoices(b"")
    assert c.integer(3, 9) == 3
    assert c.boolean(0.9) is False
    assert c.choice(["first", "second"]) == "first"
    assert c.weighted([("zero", 0.0), ("one", 1.0), ("two", 5.0)]) == "one"
    assert c.remaining() == 0


@pytest.mark.parametrize("seed", range(30))
def test_atheris_choices_survive_random_short_bytes(seed: int) -> None:
    rnd = random.Random(seed)
    data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40)))
    out = _draw_many(AtherisChoices(data), 50)
    assert len(out) == 250


@given(st.data())
@settings(max_examples=30, deadline=None)
def test_hypothesis_choices_respect_ranges(data: st.DataObject) -> None:
    c = HypothesisChoices(data)
    assert -2 <= c.integer(-2, 2) <= 2
    assert c.weighted({"a": 0.0, "b": 1.0}) == "b"
    assert 0.0 <= c.fraction() < 1.0
