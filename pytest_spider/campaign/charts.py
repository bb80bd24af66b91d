"""The report's charts, drawn by matplotlib into SVG text that is inlined in the HTML page.

Only the object-oriented API is used (no pyplot): no global figure state, no GUI backend.
Each chart's SVG ids get a prefix of their own, since several charts share one HTML document.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Final

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from pytest_spider.campaign.histogram import LogHistogram

#: Colours people expect for the usual condition values; others take the next tab10 colour.
_KNOWN_COLOURS: Final = {
    "works": "#43a047",
    "online": "#43a047",
    "success": "#43a047",
    "broken": "#e53935",
    "failed": "#e53935",
    "transient": "#fb8c00",
    "offline": "#9e9e9e",
    "(none)": "#e0e0e0",
}
_OTHER_COLOURS: Final = ("#1e88e5", "#8e24aa", "#00897b", "#6d4c41", "#3949ab", "#c0ca33")
_SIDE_COLOURS: Final = {"baseline": "#1e88e5", "experimental": "#e53935"}
_WIDTH: Final = 9.0


@dataclasses.dataclass
class Bar:
    """One horizontal bar: ``counts`` per category out of ``total`` records."""

    label: str
    total: int
    counts: Mapping[str, int]


@dataclasses.dataclass
class Panel:
    """One subplot of bars under a title."""

    title: str
    bars: Sequence[Bar]


def _style() -> AbstractContextManager[None]:
    """Text as SVG text (small, selectable), and ids that do not change between runs.

    Every label is plain text: vantage names, countries, experiments and conditions come from
    the records, and ``$...$`` in one must not be parsed as math (it would crash the report).
    Each Text object reads ``text.parse_math`` when it is made, all of them inside this context.
    """
    return matplotlib.rc_context(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "pytest-spider",
            "font.size": 9,
            "text.parse_math": False,
            "text.usetex": False,
        }
    )


def _colours(categories: Sequence[str]) -> dict[str, str]:
    spare = itertools.cycle(_OTHER_COLOURS)
    return {c: _KNOWN_COLOURS.get(c) or next(spare) for c in categories}


def category_order(panels: Sequence[Panel]) -> list[str]:
    """Known values first in a stable order (works before broken ...), then the rest by name."""
    seen = {c for panel in panels for bar in panel.bars for c in bar.counts}
    known = [c for c in _KNOWN_COLOURS if c in seen and c != "(none)"]
    rest = sorted(seen - set(_KNOWN_COLOURS))
    return known + rest + (["(none)"] if "(none)" in seen else [])


def share_bars(
    panels: Sequence[Panel],
    xlabel: str = "share of records (%)",
    colours: Mapping[str, str] | None = None,
) -> str:
    """Stacked horizontal bars of category shares, one subplot per panel, one legend.

    ``colours``: category -> colour, in legend order (default: by the usual value words)."""
    if colours is None:
        categories = category_order(panels)
        colours = _colours(categories)
    else:
        seen = {c for panel in panels for bar in panel.bars for c in bar.counts}
        categories = [c for c in colours if c in seen]
    heights = [0.8 + 0.32 * max(1, len(panel.bars)) for panel in panels]
    with _style():
        figure = Figure(figsize=(_WIDTH, sum(heights) + 0.6), layout="constrained")
        axes_list = figure.subplots(len(panels), 1, squeeze=False, height_ratios=heights)
        for axes, panel in zip(axes_list[:, 0], panels, strict=True):
            bars = panel.bars
            labels = [bar.label for bar in bars]
            left = [0.0] * len(bars)
            for category in categories:
                widths = [100 * bar.counts.get(category, 0) / (bar.total or 1) for bar in bars]
                if any(widths):
                    axes.barh(labels, widths, left=left, color=colours[category], height=0.7)
                    left = [a + b for a, b in zip(left, widths, strict=True)]
            for y, bar in enumerate(bars):
                axes.annotate(
                    f"n={bar.total:,}", (100, y), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8,
                )  # fmt: skip
            axes.set_xlim(0, 100)
            axes.invert_yaxis()
            axes.set_title(panel.title, loc="left", fontsize=10)
            axes.set_xlabel(xlabel)
            axes.spines[["top", "right"]].set_visible(False)
        handles = [Patch(color=colours[c], label=c) for c in categories]
        figure.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 8))
        return _svg(figure)


def duration_steps(panels: Sequence[tuple[str, Mapping[str, LogHistogram]]]) -> str:
    """Per experiment, the distribution of connection times of each side, on a log time axis."""
    edges_ms = [edge * 1000 for edge in LogHistogram.edges()]
    with _style():
        figure = Figure(figsize=(_WIDTH, 2.2 * len(panels) + 0.4), layout="constrained")
        axes_list = figure.subplots(len(panels), 1, squeeze=False)
        for axes, (title, sides) in zip(axes_list[:, 0], panels, strict=True):
            for side, histogram in sides.items():
                total = histogram.total or 1
                shares = [100 * count / total for count in histogram.counts[1:-1]]
                axes.stairs(
                    shares, edges_ms, label=f"{side} (n={histogram.total:,})",
                    color=_SIDE_COLOURS.get(side), linewidth=1.4,
                )  # fmt: skip
            axes.set_xscale("log")
            axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axes.set_xlim(*_busy_range(sides.values(), edges_ms))
            axes.set_title(title, loc="left", fontsize=10)
            axes.set_xlabel("connection time (ms), successful connections")
            axes.set_ylabel("% of connections")
            axes.spines[["top", "right"]].set_visible(False)
            axes.legend(frameon=False)
        return _svg(figure)


def _busy_range(histograms: Iterable[LogHistogram], edges: list[float]) -> tuple[float, float]:
    """The x range holding every counted bin, a bin of margin either side."""
    used = [i for h in histograms for i, count in enumerate(h.counts[1:-1]) if count]
    if not used:
        return edges[0], edges[-1]
    return edges[max(min(used) - 1, 0)], edges[min(max(used) + 2, len(edges) - 1)]


_ID_USES: Final = re.compile(r'(id="|url\(#|href="#)')
_METADATA: Final = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def _svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element: no prolog, no metadata, ids unique in the page."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = _METADATA.sub("", buffer.getvalue())
    text = text[text.index("<svg") :]
    prefix = "c" + hashlib.blake2b(text.encode(), digest_size=4).hexdigest() + "-"
    return _ID_USES.sub(lambda m: m.group(1) + prefix, text)
