"""Every random decision of the generators goes through a :class:`Choices`.

One grammar, three drivers:

* :class:`RandomChoices` -- a seeded :class:`random.Random` (campaigns; same seed, same output).
* :class:`HypothesisChoices` -- draws from a Hypothesis ``st.data()`` object, so Hypothesis
  records every decision and shrinks the generated case for free.
* :class:`AtherisChoices` -- reads an atheris ``FuzzedDataProvider`` (coverage-guided fuzzing);
  when the bytes run out every draw returns its "simplest" answer, so generation still ends.

Only two primitives differ between drivers (:meth:`Choices.integer` and
:meth:`Choices.fraction`); everything else (weighted picks, booleans, special floats) is
built on them in :class:`Choices`, so the three drivers make the same decisions from the
same underlying draws. The "simplest" answer of every helper is what a draw of 0 gives
(first item, ``False``, a small integer), which is where Hypothesis shrinks to.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

_FRACTION_BITS = 24
_FRACTION_SCALE = float(1 << _FRACTION_BITS)
_HYPOTHESIS_FRACTION_BYTES = 2
"""A Hypothesis fraction is 16 random bits: fine enough for every weight the generators
use, and small (Hypothesis caps an example at 8 KiB of choices and wants the simplest
one under 4 KiB, a ``large_base_example`` health check)."""

TIE_VALUES: tuple[float, ...] = (0.0, 1.0, -1.0, 2.0, 0.5, 10.0, 100.0)
"""Values that come back often so comparisons, sorts and topk meet ties."""

SPECIAL_FLOATS: tuple[float, ...] = (0.0, -0.0, math.nan, math.inf, -math.inf)


class Choices:
    """Base of the decision drivers. Subclasses implement :meth:`integer` and :meth:`fraction`."""

    # ------------------------------------------------------------------ primitives
    def integer(self, lo: int, hi: int) -> int:
        """An integer in ``[lo, hi]`` (both inclusive); ``lo`` is the simplest answer."""
        raise NotImplementedError

    def fraction(self) -> float:
        """A float in ``[0, 1)``; 0 is the simplest answer."""
        raise NotImplementedError

    # ------------------------------------------------------------------ derived
    def boolean(self, p: float = 0.5) -> bool:
        """True with probability ``p``; the simplest answer is False (unless ``p >= 1``)."""
        if p <= 0.0:
            return False
        if p >= 1.0:
            return True
        return self.fraction() >= 1.0 - p

    def choice(self, seq: Sequence[T]) -> T:
        """A uniformly chosen element of a non-empty sequence (simplest: the first)."""
        n = len(seq)
        if n == 0:
            raise ValueError("choice from an empty sequence")
        if n == 1:
            return seq[0]
        return seq[self.integer(0, n - 1)]

    def weighted(self, items: Mapping[T, float] | Sequence[tuple[T, float]]) -> T:
        """An item chosen with probability proportional to its weight (zero weights never).

        ``items`` is a mapping ``{item: weight}`` or a sequence of ``(item, weight)`` pairs;
        the first item with a positive weight is the simplest answer.
        """
        pairs: Sequence[tuple[T, float]] = list(items.items()) if isinstance(items, Mapping) else items
        total = 0.0
        for _, w in pairs:
            if w > 0:
                total += w
        if total <= 0:
            raise ValueError("weighted choice with no positive weight")
        r = self.fraction() * total
        acc = 0.0
        last: Any = None
        for item, w in pairs:
            if w <= 0:
                continue
            acc += w
            last = item
            if r < acc:
                return item
        return last  # type: ignore[no-any-return]  # rounding at the top end

    def subset(self, seq: Sequence[T], max_size: int | None = None, min_size: int = 0) -> list[T]:
        """Distinct elements of ``seq`` (in a random order), between ``min_size`` and ``max_size``."""
        pool = list(seq)
        hi = len(pool) if max_size is None else min(max_size, len(pool))
        lo = min(min_size, hi)
        k = self.integer(lo, hi)
        out: list[T] = []
        for _ in range(k):
            out.append(pool.pop(self.integer(0, len(pool) - 1)))
        return out

    def shuffled(self, seq: Sequence[T]) -> list[T]:
        """A permutation of ``seq`` (simplest: the same order)."""
        pool = list(seq)
        return [pool.pop(self.integer(0, len(pool) - 1)) for _ in range(len(seq))]

    def repeat(self, fn: Callable[[], T], lo: int, hi: int) -> list[T]:
        """Between ``lo`` and ``hi`` results of ``fn()``."""
        return [fn() for _ in range(self.integer(lo, hi))]

    def string(self, alphabet: str, min_size: int = 0, max_size: int = 8) -> str:
        """A string over ``alphabet``."""
        return "".join(self.choice(alphabet) for _ in range(self.integer(min_size, max_size)))

    def floating(
        self,
        lo: float = -1000.0,
        hi: float = 1000.0,
        *,
        special: float = 0.05,
        extreme: float = 0.02,
        ties: float = 0.15,
        integral: float = 0.35,
        allow_nan: bool = True,
        allow_inf: bool = True,
        allow_negative_zero: bool = True,
    ) -> float:
        """A float: mostly in ``[lo, hi]`` (integers, short decimals, ties), sometimes special.

        * ``special``: share of NaN / ±Inf / 0 / -0 (filtered by the ``allow_*`` flags),
        * ``extreme``: share of huge or tiny magnitudes (1e-300..1e300, denormals, max float),
          ignoring ``lo``/``hi`` except for the sign when ``lo >= 0``,
        * ``ties``: share of a small set of common values (0, 1, -1, 2, 0.5, 10, 100) clipped
          to the range, so that comparisons meet ties,
        * ``integral``: share of integers in the range; the rest are decimals.
        """
        regular = max(0.0, 1.0 - special - extreme - ties - integral)
        kind = self.weighted(
            (
                ("int", integral),
                ("tie", ties),
                ("decimal", regular),
                ("special", special),
                ("extreme", extreme),
            )
        )
        if kind == "int":
            ilo, ihi = math.ceil(lo), math.floor(hi)
            if ilo > ihi:
                return lo
            # Small magnitudes first: shrink toward the integer nearest 0 in range.
            if ilo <= 0 <= ihi:
                mag = self.integer(0, max(-ilo, ihi))
                neg = mag != 0 and self.boolean()
                v = -mag if neg else mag
                return float(min(max(v, ilo), ihi))
            return float(self.integer(ilo, ihi))
        if kind == "tie":
            cands = [t for t in TIE_VALUES if lo <= t <= hi]
            return self.choice(cands) if cands else lo
        if kind == "decimal":
            x = lo + (hi - lo) * self.fraction()
            digits = self.integer(0, 6)
            x = round(x, digits) if digits < 6 else x
            return min(max(x, lo), hi)
        if kind == "special":
            cands = [0.0]
            if allow_negative_zero:
                cands.append(-0.0)
            if allow_nan:
                cands.append(math.nan)
            if allow_inf:
                cands.extend([math.inf, -math.inf] if lo < 0 else [math.inf])
            return self.choice(cands)
        # extreme magnitudes
        which = self.integer(0, 9)
        big: float
        if which == 0:
            big = sys.float_info.max
        elif which == 1:
            big = 5e-324  # smallest denormal
        elif which == 2:
            big = sys.float_info.min
        else:
            big = float(f"{self.integer(1, 9)}e{self.integer(-300, 300)}")
        neg = lo < 0 and self.boolean()
        return -big if neg else big


class RandomChoices(Choices):
    """Decisions from a seeded :class:`random.Random`: the same seed gives the same decisions."""

    def __init__(self, seed: int | str | bytes = 0) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        if hi <= lo:
            return lo
        return self._rng.randint(lo, hi)

    def fraction(self) -> float:
        return self._rng.random()

    def fork(self, label: str) -> RandomChoices:
        """An independent child stream (e.g. one per case) derived from this one."""
        return RandomChoices(f"{self._rng.getrandbits(64)}:{label}")


class HypothesisChoices(Choices):
    """Decisions drawn from Hypothesis (Hypothesis records every decision and shrinks it).

    ``data`` is a Hypothesis ``st.data()`` object or a ``@st.composite`` strategy's
    ``draw``: anything with a ``draw(strategy)`` method, or the draw function itself.

    Every decision is one choice of an artificial :func:`hypothesis.strategies.randoms`
    (``randint`` for ranges of at most 256 values, ``randbytes`` otherwise), for three
    reasons that together make Hypothesis generate cases like a campaign's:

    * Hypothesis's integer distribution piles up near 0 for wide ranges (``integers(0,
      2**16 - 1)`` is mostly below 300), and 0 is every helper's simplest answer; random
      bytes are uniform, so a fraction drawn from two bytes is uniform and weighted
      picks follow their weights as with :class:`RandomChoices`.
    * The choices of one random carry no span of their own, so Hypothesis's mutator
      (which copies one span over another of the same label, five times after every
      generated example) has nothing to copy: it would mostly copy dataset draws and
      repeat the same query five times.
    * Shrinking still works choice by choice: a byte string shrinks toward zero bytes, an
      integer toward ``lo``, and 0 is the simplest answer of every helper.
    """

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self._data = data
        self._rnd: Any = self._draw(st.randoms(use_true_random=False, note_method_calls=False))

    def integer(self, lo: int, hi: int) -> int:
        if hi <= lo:
            return lo
        span = hi - lo
        if span < 256:
            # Shrinks toward 0, that is toward lo (the simplest answer).
            return lo + int(self._rnd.randint(0, span))
        n = (span.bit_length() + 7) // 8 + 1  # one byte more than the range needs: scaling bias < 1/256
        v = int.from_bytes(self._rnd.randbytes(n), "big")
        return lo + ((v * (span + 1)) >> (8 * n))

    def fraction(self) -> float:
        b = self._rnd.randbytes(_HYPOTHESIS_FRACTION_BYTES)
        return int.from_bytes(b, "big") / float(1 << (8 * _HYPOTHESIS_FRACTION_BYTES))

    def _draw(self, strategy: Any) -> Any:
        draw = getattr(self._data, "draw", None)
        if draw is None:  # a composite's ``draw`` function
            return self._data(strategy)
        return draw(strategy)


class AtherisChoices(Choices):
    """Decisions read from an atheris ``FuzzedDataProvider`` (or raw bytes).

    When the input is exhausted every draw returns its simplest answer (the provider gives
    its minimum), so generation always terminates and never raises.
    """

    def __init__(self, fdp: Any) -> None:
        if isinstance(fdp, (bytes, bytearray, memoryview)):
            import atheris

            fdp = atheris.FuzzedDataProvider(bytes(fdp))
        self._fdp = fdp

    def integer(self, lo: int, hi: int) -> int:
        if hi <= lo:
            return lo
        return int(self._fdp.ConsumeIntInRange(lo, hi))

    def fraction(self) -> float:
        return int(self._fdp.ConsumeIntInRange(0, (1 << _FRACTION_BITS) - 1)) / _FRACTION_SCALE

    def remaining(self) -> int:
        """Bytes left in the input."""
        return int(self._fdp.remaining_bytes())
