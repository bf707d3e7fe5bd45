"""Charts for reports, rendered by matplotlib to SVG text that the HTML inlines.

Text that comes from engines (label sets) is shown literally: mathtext parsing is off,
and matplotlib's SVG writer escapes it for XML.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from promfuzz.reports.records import ResultView, ThroughputSample  # noqa: E402

_STYLE: dict[str, Any] = {"text.parse_math": False, "svg.fonttype": "none", "svg.hashsalt": "promfuzz", "font.size": 8}


def _to_svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    # Drop the XML prolog and DOCTYPE so the SVG can sit inline in HTML.
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _num(v: str) -> float | None:
    try:
        x = float(v)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def result_overlay_svg(results: Sequence[ResultView], max_series: int = 12) -> str | None:
    """Overlay the float series of two or more engines' matrix answers; None if nothing to plot."""
    plotted = 0
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        fig, ax = plt.subplots(figsize=(7, 2.6))
        styles = ["-", "--", ":", "-."]
        for i, res in enumerate(results):
            if res.value_type != "matrix":
                continue
            for s in res.series[:max_series]:
                xs, ys = [], []
                for t, v in s.points:
                    y = _num(v)
                    if y is not None:
                        xs.append(t / 1000.0)
                        ys.append(y)
                if xs:
                    ax.plot(xs, ys, styles[i % len(styles)], marker=".", label=f"{res.engine} {s.labels}"[:80])
                    plotted += 1
        if not plotted:
            plt.close(fig)
            return None
        ax.set_xlabel("time (s)")
        ax.legend(fontsize=6, loc="best")
        ax.grid(alpha=0.3)
        return _to_svg(fig)


def throughput_svg(samples: Sequence[ThroughputSample]) -> str | None:
    if len(samples) < 2:
        return None
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        fig, ax = plt.subplots(figsize=(7, 2.2))
        xs = [s.elapsed_s for s in samples]
        rates = [0.0]
        for a, b in zip(samples, samples[1:], strict=False):
            dt = b.elapsed_s - a.elapsed_s
            rates.append((b.cases - a.cases) / dt if dt > 0 else 0.0)
        ax.plot(xs, rates, "-", label="cases/s")
        ax2 = ax.twinx()
        ax2.plot(xs, [s.divergences for s in samples], "--", color="tab:red", label="divergences (cumulative)")
        ax.set_xlabel("elapsed (s)")
        ax.set_ylabel("cases/s")
        ax2.set_ylabel("divergences")
        ax.grid(alpha=0.3)
        return _to_svg(fig)
