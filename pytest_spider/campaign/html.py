"""The campaign report as one self-contained HTML page: inline CSS, SVG charts and a sorter.

The page fetches nothing (no CDN, no fonts, no external script), so it opens offline and can be
mailed or archived as is. Tables are built from the summary's counters, never from raw
records, and long difference lists are cut with a pointer to the full ``diff`` command.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any, Final

from pytest_spider.campaign import charts
from pytest_spider.campaign.aggregate import (
    AS,
    CONSISTENT,
    COUNTRY,
    DIMENSIONS,
    INCONSISTENT,
    NO_CONDITION,
    ONE_TRIAL,
    VANTAGE,
    Summary,
)
from pytest_spider.campaign.compare import (
    CHANGED,
    IMPROVEMENT,
    KINDS,
    NEW,
    REGRESSION,
    STILL_FAILING,
    Comparison,
    format_conditions,
)
from pytest_spider.schema import DEAD, EXCLUDED, NO_ADDRESS
from pytest_spider.vantages import (
    CONDITIONS_KIND,
    INCOMPLETE,
    ONE_VANTAGE,
    PATH_DEPENDENT,
    SAME,
    TARGETS,
    VERDICT_DIFFERS,
    VERDICT_KIND,
    Agreement,
    Disagreement,
)

#: A table cell: text, a count, or (text, sort value) for formatted numbers.
Cell = str | int | tuple[str, float]

#: The campaign metadata's count of target-list lines that did not parse.
BAD_INPUT_COUNT: Final = "bad_input"

#: Rows shown per kind of difference; the rest is counted and left to the diff command.
DIFF_ROWS: Final = {REGRESSION: 500, IMPROVEMENT: 500, CHANGED: 200, STILL_FAILING: 100, NEW: 50}
DIFF_ROWS_DEFAULT: Final = 50

_DIMENSION_TITLES: Final = {VANTAGE: "vantage point", AS: "AS", COUNTRY: "country"}

_CSS: Final = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
.sources { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.sortable th { cursor: pointer; user-select: none; background: #f3f3f3; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
table.facts th { background: none; font-weight: 600; width: 14em; }
.chart svg { max-width: 100%; height: auto; }
.note { color: #666; font-style: italic; }
summary { cursor: pointer; color: #1e5aa8; margin: 0.6em 0; } summary h3 { display: inline; }
.bad { color: #b71c1c; font-weight: 600; } .good { color: #1b5e20; font-weight: 600; }
"""

#: Click a header to sort (again: reverse); the order is kept in the URL (#sort=table.col.dir).
_JS: Final = """
(function () {
  "use strict";
  function value(cell) {
    var v = cell.getAttribute("data-v");
    return v !== null ? parseFloat(v) : cell.textContent.trim().toLowerCase();
  }
  function sortTable(table, col, dir) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a.cells[col]), y = value(b.cells[col]);
      var c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(y);
      return dir === "desc" ? -c : c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.setAttribute("aria-sort", i !== col ? "none" : dir === "asc" ? "ascending" : "descending");
    });
  }
  function fromHash() {
    var m = /^#sort=([\\w-]+)\\.(\\d+)\\.(asc|desc)$/.exec(location.hash);
    var table = m && document.getElementById(m[1]);
    if (!table) { return; }
    var folded = table.closest("details");
    if (folded) { folded.open = true; }
    sortTable(table, Number(m[2]), m[3]);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      function click() {
        var dir = th.getAttribute("aria-sort") === "ascending" ? "desc" : "asc";
        history.replaceState(null, "", "#sort=" + table.id + "." + i + "." + dir);
        sortTable(table, i, dir);
      }
      th.setAttribute("aria-sort", "none");
      th.tabIndex = 0;
      th.addEventListener("click", click);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { click(); } });
    });
  });
  fromHash();
  window.addEventListener("hashchange", fromHash);
})();
"""


def _cell(cell: Cell) -> str:
    if isinstance(cell, int):
        return f'<td class="n" data-v="{cell}">{cell:,}</td>'
    if isinstance(cell, tuple):
        text, sort_value = cell
        return f'<td class="n" data-v="{sort_value:g}">{escape(text)}</td>'
    return f"<td>{escape(cell)}</td>"


def _table(table_id: str, headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>\n" for row in rows)
    return (
        f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}</tbody></table>"
    )


def _folded(summary_html: str, content: str, *, is_open: bool = False) -> str:
    """A ``<details>`` block, so long tables stay one click away instead of in the way."""
    opened = " open" if is_open else ""
    return f"<details{opened}><summary>{summary_html}</summary>\n{content}</details>"


def _pct(part: int, whole: int) -> tuple[str, float]:
    share = 100 * part / whole if whole else 0.0
    return f"{share:.1f} %", share


def _ms(seconds: float | None) -> Cell:
    return "-" if seconds is None else (f"{seconds * 1000:.3g} ms", seconds * 1000)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"


def _stamp(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S} UTC"


def _facts(summary: Summary) -> str:
    first, last = summary.first, summary.last
    campaigns = summary.campaigns
    rows: list[tuple[str, str]] = [
        ("records", f"{summary.records:,}"),
        ("targets", f"{summary.targets:,}"),
        ("experiments", _counted(summary.per_experiment)),
        ("vantage points", _counted(_vantages(summary))),
        ("start", _stamp(first)),
        ("end", _stamp(last)),
        ("duration", _duration((last - first).total_seconds()) if first and last else "-"),
    ]
    if len(campaigns) > 1:
        rows.append(("sessions", f"{len(campaigns)} (the campaign was resumed)"))
    rows += [
        ("offline (records)", _offline(summary)),
        ("excluded (records)", f"{summary.unmeasured[EXCLUDED]:,}"),
        ("no address (records)", f"{summary.unmeasured[NO_ADDRESS]:,}"),
        ("never ran (records)", f"{summary.unmeasured[DEAD]:,}"),
        ("bad input lines", _bad_input(campaigns)),
    ]
    for index, meta in enumerate(campaigns, 1):
        label = "campaign" if len(campaigns) == 1 else f"session {index}"
        for field, value in meta.items():
            if field not in _SHOWN_ONCE:
                rows.append((f"{label}: {field}", _plain(value)))
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>\n" for k, v in rows)
    return f'<table class="facts"><tbody>\n{body}</tbody></table>'


#: Metadata fields the facts show once, from the records (start to end of the connections,
#: every vantage point), not again per session.
_SHOWN_ONCE: Final = frozenset({"start", "end", "duration", "vantage", "vantages"})


def _vantages(summary: Summary) -> Counter[str]:
    """Records per vantage point, and vantage points the metadata names without records."""
    counts = Counter(summary.per_vantage)
    for meta in summary.campaigns:
        named = meta.get("vantages")
        for vantage in named if isinstance(named, list) else ():
            counts.setdefault(str(vantage), 0)
    return counts


def _offline(summary: Summary) -> str:
    """Measured records whose targets answered no connection (``<experiment>.connectivity.
    offline``): they were contacted, so they are not among the unmeasured."""
    per: Counter[str] = Counter()
    for (experiment, condition), count in summary.conditions.items():
        if condition.split(".")[1:] == ["connectivity", "offline"]:
            per[experiment] += count
    total = per.total()
    if len(per) > 1:
        return f"{total:,}: {_counted(per)}"
    return f"{total:,}"


def _bad_input(campaigns: Sequence[Mapping[str, Any]]) -> str:
    """Target-list lines that were not targets: only the campaign metadata counts them."""
    counts = [meta.get("counts") for meta in campaigns]
    bad = [c.get(BAD_INPUT_COUNT) for c in counts if isinstance(c, Mapping)]
    numbers = [n for n in bad if isinstance(n, int)]
    return f"{sum(numbers):,}" if numbers else "- (not in the campaign metadata)"


def _counted(counter: Counter[str]) -> str:
    return ", ".join(f"{name} ({count:,})" for name, count in sorted(counter.items())) or "-"


def _plain(value: Any) -> str:
    """Metadata as short text: mappings as ``k=v`` pairs, the rest as JSON."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items()) or "-"
    return value if isinstance(value, str) else json.dumps(value)


def _family(condition: str) -> tuple[str, str]:
    """``h2.upgrade.success`` -> (``upgrade``, ``success``): a family's values are exclusive."""
    parts = condition.split(".")
    if len(parts) < 3:
        return (parts[0], parts[-1]) if len(parts) == 2 else ("other", condition)
    return ".".join(parts[1:-1]), parts[-1]


def _qualified(condition: str) -> str:
    """A condition without its experiment (``h2.upgrade.failed`` -> ``upgrade.failed``): the
    category a chart shows, so that values of different families stay apart."""
    if condition == NO_CONDITION:
        return condition
    family, value = _family(condition)
    return f"{family}.{value}"


#: Connectivity, the family every experiment has, in the colours people expect.
_CONNECTIVITY_COLOURS: Final = {
    "works": "#43a047",
    "online": "#43a047",
    "transient": "#fb8c00",
    "broken": "#e53935",
    "offline": "#9e9e9e",
}
#: Every other family gets one hue of its own, its values that hue's shades: ``upgrade.failed``
#: must not look like a broken path.
_FAMILY_HUES: Final = (
    ("#1565c0", "#64b5f6", "#0d47a1", "#bbdefb"),  # blue
    ("#6a1b9a", "#ba68c8", "#4a148c", "#e1bee7"),  # purple
    ("#00695c", "#4db6ac", "#004d40", "#b2dfdb"),  # teal
    ("#5d4037", "#a1887f", "#3e2723", "#d7ccc8"),  # brown
    ("#283593", "#7986cb", "#1a237e", "#c5cae9"),  # indigo
    ("#827717", "#d4e157", "#524c00", "#f0f4c3"),  # olive
)
_NONE_COLOUR: Final = "#e0e0e0"
_OTHER_VALUE_COLOUR: Final = "#757575"


def family_colours(categories: Iterable[str]) -> dict[str, str]:
    """Colour per category (``family.value``), in legend order: connectivity first in its
    usual colours, then each family (by name) in its own hue, then ``(none)``."""
    categories = set(categories)
    families: dict[str, set[str]] = {}
    for category in categories:
        if category != NO_CONDITION:
            family, _, value = category.rpartition(".")
            families.setdefault(family, set()).add(value)
    colours: dict[str, str] = {}
    connectivity = families.pop("connectivity", set())
    for value in [v for v in _CONNECTIVITY_COLOURS if v in connectivity]:
        colours[f"connectivity.{value}"] = _CONNECTIVITY_COLOURS[value]
    for value in sorted(connectivity - set(_CONNECTIVITY_COLOURS)):
        colours[f"connectivity.{value}"] = _OTHER_VALUE_COLOUR
    for number, family in enumerate(sorted(families)):
        hue = _FAMILY_HUES[number % len(_FAMILY_HUES)]
        for index, value in enumerate(sorted(families[family], key=_negative_last)):
            colours[f"{family}.{value}"] = hue[index % len(hue)]
    if NO_CONDITION in categories:
        colours[NO_CONDITION] = _NONE_COLOUR
    return colours


def _negative_last(value: str) -> tuple[bool, str]:
    """``success`` before ``failed``, ``received`` before ``not_received``: the full shade of a
    family's hue goes to what it hopes for."""
    negative = value in ("failed", "none", "stripped", "changed", "ce", "timeout", "inconsistent")
    return negative or value.startswith(("not_", "un", "no_")), value


def _panel_colours(panels: Sequence[charts.Panel]) -> dict[str, str]:
    seen = {c for panel in panels for bar in panel.bars for c in bar.counts}
    return family_colours(seen)


def _conditions_section(summary: Summary) -> str:
    panels: list[charts.Panel] = []
    rows: list[list[Cell]] = []
    for experiment in sorted(summary.measured):
        measured = summary.measured[experiment]
        families: dict[str, Counter[str]] = {}
        for (exp, condition), count in sorted(summary.conditions.items()):
            if exp == experiment:
                family = _family(condition)[0]
                families.setdefault(family, Counter())[_qualified(condition)] += count
                rows.append([experiment, condition, count, _pct(count, measured)])
        bars = []
        for family, counts in families.items():
            missing = measured - counts.total()
            if missing > 0:
                counts[NO_CONDITION] = missing
            bars.append(charts.Bar(family, measured, counts))
        if bars:
            panels.append(charts.Panel(f"{experiment} ({measured:,} measured)", bars))
    if not panels:
        return '<p class="note">No measured records.</p>'
    table = _table("conditions", ["experiment", "condition", "records", "share"], rows)
    chart = charts.share_bars(panels, colours=_panel_colours(panels))
    return f'<div class="chart">{chart}</div>\n{table}'


#: Trial consistency in the colours of connectivity: agreeing trials are good news.
_CONSISTENCY_COLOURS: Final = {
    CONSISTENT: "#43a047",
    INCONSISTENT: "#fb8c00",
    ONE_TRIAL: "#9e9e9e",
}


def _trials_section(summary: Summary) -> str:
    """Targets measured in several trials: how many agreed, what flapped, and which."""
    experiments = sorted({experiment for experiment, _ in summary.consistency})
    bars: list[charts.Bar] = []
    rows: list[list[Cell]] = []
    for experiment in experiments:
        counts = Counter(
            {kind: n for (exp, kind), n in summary.consistency.items() if exp == experiment}
        )
        total = counts.total()
        bars.append(charts.Bar(experiment, total, counts))
        several = counts[CONSISTENT] + counts[INCONSISTENT]
        rows.append(
            [
                experiment,
                summary.trial_runs[experiment],
                total,
                counts[CONSISTENT],
                counts[INCONSISTENT],
                _pct(counts[INCONSISTENT], several),
            ]
        )
    chart = charts.share_bars(
        [charts.Panel("targets by whether their trials agreed", bars)],
        xlabel="share of measured records (%)",
        colours=_CONSISTENCY_COLOURS,
    )
    headers = [
        "experiment",
        "trials",
        "records",
        "consistent",
        "inconsistent",
        "inconsistent share",
    ]
    parts = [f'<div class="chart">{chart}</div>', _table("trials", headers, rows)]
    flapping: list[list[Cell]] = [
        [experiment, condition, count]
        for (experiment, condition), count in sorted(summary.flapping.items())
    ]
    if flapping:
        parts.append(
            "<h3>What flapped</h3>\n"
            '<p class="note">Conditions that held in some trials of a target but not in all, '
            "counted over inconsistent targets.</p>\n"
            + _table("trials-flapping", ["experiment", "condition", "targets"], flapping)
        )
    shown = summary.inconsistent
    if shown:
        cells: list[list[Cell]] = [
            [row.key.experiment, row.key.target_label(), row.key.vantage, row.trials, row.outcome]
            for row in shown
        ]
        headers = ["experiment", "target", "vantage", "trials saw", "outcome"]
        content = _table("trials-inconsistent", headers, cells)
        inconsistent = sum(
            n for (_, kind), n in summary.consistency.items() if kind == INCONSISTENT
        )
        if inconsistent > len(shown):
            content += f'<p class="note">{inconsistent - len(shown):,} more not shown.</p>'
        title = f"<h3>Inconsistent targets ({inconsistent:,})</h3>"
        parts.append(_folded(title, content, is_open=True))
    return "\n".join(parts)


def _by_category(counts: Counter[str]) -> Counter[str]:
    summed: Counter[str] = Counter()
    for condition, count in counts.items():
        summed[_qualified(condition)] += count
    return summed


def _split_section(summary: Summary, dimension: str, top: int) -> str:
    panels: list[charts.Panel] = []
    for experiment in sorted(summary.measured):
        bars = [
            charts.Bar(s.group, s.total, _by_category(s.counts))
            for s in summary.shares(dimension, experiment, top)
        ]
        if bars:
            panels.append(charts.Panel(experiment, bars))
    if not panels:
        return ""
    colours = _panel_colours(panels)
    values = list(colours)
    rows: list[list[Cell]] = [
        [
            bar.label,
            panel.title,
            bar.total,
            *(_pct(bar.counts.get(v, 0), bar.total) for v in values),
        ]
        for panel in panels
        for bar in panel.bars
    ]
    title = _DIMENSION_TITLES[dimension]
    note = "" if dimension == VANTAGE else f"Top {top} by measured records, the rest as 'other'. "
    headers = [title, "experiment", "records", *values]
    return (
        f"<h2>Connectivity per {title}</h2>\n"
        f'<p class="note">{note}Each record counted by its connectivity condition.</p>\n'
        f'<div class="chart">{charts.share_bars(panels, colours=colours)}</div>\n'
        + _folded(f"table ({len(rows)} rows)", _table(f"per-{dimension.lower()}", headers, rows))
    )


def _times_section(summary: Summary) -> str:
    experiments = sorted({experiment for experiment, _ in summary.times})
    if not experiments:
        return '<p class="note">No successful connection carried timestamps.</p>'
    panels = []
    rows: list[list[Cell]] = []
    for experiment in experiments:
        sides = {side: h for (exp, side), h in sorted(summary.times.items()) if exp == experiment}
        panels.append((experiment, sides))
        for side, histogram in sides.items():
            quantiles = [_ms(histogram.quantile(q)) for q in (0.5, 0.9, 0.99)]
            rows.append([experiment, side, histogram.total, *quantiles])
    headers = ["experiment", "side", "successful", "median", "90th pct", "99th pct"]
    chart = charts.duration_steps(panels)
    return f'<div class="chart">{chart}</div>\n{_table("times", headers, rows)}'


def _errors_section(summary: Summary) -> str:
    if not summary.errors:
        return '<p class="note">No connection failed.</p>'
    rows: list[list[Cell]] = [
        [experiment, side, error, count]
        for (experiment, side, error), count in sorted(summary.errors.items())
    ]
    return _table("errors", ["experiment", "side", "error class", "failed"], rows)


def _outcomes_section(summary: Summary) -> str:
    rows: list[list[Cell]] = [
        [experiment, outcome, count, _pct(count, summary.per_experiment[experiment])]
        for (experiment, outcome), count in sorted(summary.outcomes.items())
    ]
    return _table("outcomes", ["experiment", "outcome", "records", "share"], rows)


#: The agreement chart's categories, in legend order, in the colours people read them by.
_AGREEMENT_COLOURS: Final = {
    "same everywhere": "#43a047",
    CONDITIONS_KIND: "#fb8c00",
    VERDICT_KIND: "#e53935",
    "one vantage only": "#9e9e9e",
}
#: Rows of the agreement's longer tables; the rest is counted and left to ``diff``.
VANTAGE_PATTERN_ROWS: Final = 200


def _vantage_cells(row: Disagreement, *, pattern: bool = False) -> list[Cell]:
    conditions = [format_conditions(c) for c in row.conditions]
    if pattern:
        return [row.experiment, row.kind, row.targets, *conditions]
    return [row.kind, row.experiment, row.target_label(), *conditions]


def _agreement_chart(agreement: Agreement) -> str:
    """Per experiment, targets by whether the vantages agree; then per condition family, how
    many of the targets compared differ in it."""
    bars = []
    family_bars = []
    for experiment, counts in sorted(agreement.counts.items()):
        dependent, verdict = counts[PATH_DEPENDENT], counts[VERDICT_DIFFERS]
        shares = {
            "same everywhere": counts[SAME],
            CONDITIONS_KIND: dependent - verdict,
            VERDICT_KIND: verdict,
            "one vantage only": counts[ONE_VANTAGE],
        }
        bars.append(charts.Bar(experiment, counts[TARGETS], {k: n for k, n in shares.items() if n}))
        compared = counts[SAME] + dependent
        for family, differ in sorted(agreement.families[experiment].items()):
            same = {"same everywhere": compared - differ, CONDITIONS_KIND: differ}
            family_bars.append(charts.Bar(f"{experiment}: {family}", compared, same))
    panels = [charts.Panel("targets x experiments: do the vantages agree?", bars)]
    if family_bars:
        panels.append(charts.Panel("which conditions differ (targets compared)", family_bars))
    return charts.share_bars(panels, "share of targets (%)", _AGREEMENT_COLOURS)


def _vantage_section(agreement: Agreement, sources: Sequence[str]) -> str:
    vantages = agreement.vantages
    globs = ", ".join(agreement.fail_globs)
    parts = [
        f'<p class="note">Every target x experiment measured from more than one of the '
        f"vantage points {escape(', '.join(vantages))}: the same everywhere, or "
        "path-dependent (its conditions differ between vantages); of those, whose verdict "
        f"differs (a fail glob, {escape(globs)}, matches from some vantages and not from "
        "others).</p>"
    ]
    compared = agreement.total(SAME) + agreement.total(PATH_DEPENDENT)
    if not compared:
        parts.append('<p class="note">No target was measured from more than one vantage.</p>')
    else:
        dependent = agreement.total(PATH_DEPENDENT)
        verdict = agreement.total(VERDICT_DIFFERS)
        parts.append(
            f'<p class="{"bad" if verdict else "good"}">{dependent:,} path-dependent, '
            f"{verdict:,} of them with a verdict that differs; "
            f"{agreement.total(SAME):,} the same everywhere.</p>"
        )
        parts.append(f'<div class="chart">{_agreement_chart(agreement)}</div>')
    rows: list[list[Cell]] = []
    for experiment, counts in sorted(agreement.counts.items()):
        both = counts[SAME] + counts[PATH_DEPENDENT]
        rows.append(
            [experiment, *(counts[kind] for kind in (TARGETS, SAME, PATH_DEPENDENT)),
             counts[VERDICT_DIFFERS], counts[ONE_VANTAGE], counts[INCOMPLETE],
             _pct(counts[PATH_DEPENDENT], both)]
        )  # fmt: skip
    headers = ["experiment", "targets", "same everywhere", "path-dependent", VERDICT_KIND,
               "one vantage only", "not from every vantage", "path-dependent share"]  # fmt: skip
    parts.append(_table("vantage-counts", headers, rows))
    columns = [f"from {vantage}" for vantage in vantages]
    targets = [row for experiment in sorted(agreement.targets) for row in
               agreement.targets[experiment]]  # fmt: skip
    if targets:
        content = _table(
            "vantage-targets",
            ["kind", "experiment", "target", *columns],
            [_vantage_cells(row) for row in targets],
        )
        hidden = agreement.total(PATH_DEPENDENT) - len(targets)
        if hidden > 0:
            files = " ".join(sources)
            content += (
                f'<p class="note">{hidden:,} more not shown; <code>python -m pytest_spider '
                f"diff --across-vantages {escape(files)}</code> lists them all.</p>"
            )
        title = f"<h3>Path-dependent targets ({agreement.total(PATH_DEPENDENT):,})</h3>"
        parts.append(_folded(title, content, is_open=True))
    patterns = [row for experiment in sorted(agreement.patterns) for row in
                agreement.patterns[experiment]]  # fmt: skip
    if patterns:
        shown = patterns[:VANTAGE_PATTERN_ROWS]
        content = _table(
            "vantage-patterns",
            ["experiment", "kind", "targets", *columns],
            [_vantage_cells(row, pattern=True) for row in shown],
        )
        if len(patterns) > len(shown):
            content += f'<p class="note">{len(patterns) - len(shown):,} more not shown.</p>'
        title = f"<h3>Ways the vantages disagree ({len(patterns):,})</h3>"
        parts.append(_folded(title, content))
    same: list[list[Cell]] = [
        [experiment, format_conditions(conditions), count]
        for experiment in sorted(agreement.agreeing)
        for conditions, count in agreement.agreeing[experiment].most_common()
    ]
    if same:
        content = _table("vantage-same", ["experiment", "conditions", "targets"], same)
        title = f"<h3>The same everywhere ({agreement.total(SAME):,})</h3>"
        parts.append(_folded(title, content))
    return "\n".join(parts)


def _diff_section(comparison: Comparison) -> str:
    counts: list[list[Cell]] = [[kind, comparison.counts[kind]] for kind in KINDS]
    regressions = comparison.regressions
    verdict = (
        f'<p class="bad">{regressions:,} regression{"s" if regressions > 1 else ""}.</p>'
        if regressions
        else '<p class="good">No regressions.</p>'
    )
    globs = ", ".join(comparison.fail_globs)
    parts = [
        f'<p class="note">A regression: a condition matching {escape(globs)} that the '
        "baseline did not have for the same target, experiment and vantage point.</p>",
        verdict,
        _table("diff-counts", ["kind", "targets x experiments"], counts),
    ]
    headers = ["experiment", "target", "vantage", "baseline conditions", "conditions"]
    for kind, rows in comparison.rows.items():
        if not rows:
            continue
        limit = DIFF_ROWS.get(kind, DIFF_ROWS_DEFAULT)
        shown = sorted(rows, key=lambda row: row.packed)[:limit]
        cells: list[list[Cell]] = []
        for row in shown:
            key = row.key
            old, new = format_conditions(row.old), format_conditions(row.new)
            cells.append([key.experiment, key.target_label(), key.vantage, old, new])
        content = _table(f"diff-{kind}", headers, cells)
        if len(rows) > limit:
            content += (
                f'<p class="note">{len(rows) - limit:,} more not shown; '
                "<code>python -m pytest_spider diff OLD NEW</code> lists them all.</p>"
            )
        title = f"<h3>{escape(kind.replace('_', ' '))} ({len(rows):,})</h3>"
        parts.append(_folded(title, content, is_open=kind == REGRESSION))
    return "\n".join(parts)


def render(
    summary: Summary,
    comparison: Comparison | None,
    *,
    title: str,
    sources: Sequence[str],
    top: int = 10,
    agreement: Agreement | None = None,
) -> str:
    """The whole page (``agreement``: whether the vantages agree per target, shown where
    records came from more than one)."""
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="sources">From {escape(", ".join(sources))}</p>',
        "<h2>Campaign</h2>",
        _facts(summary),
        "<h2>Conditions per experiment</h2>",
        '<p class="note">Share of measured records (targets never measured left out) '
        "carrying each condition; '(none)': records without a condition of that kind.</p>",
        _conditions_section(summary),
        *(
            [
                "<h2>Trials</h2>",
                '<p class="note">Targets measured more than once (--spider-trials): their '
                "conditions are those every trial had; consistent if every trial had the same. "
                "An inconsistent target is not failed unless a fail glob matches "
                "*.trials.inconsistent.</p>",
                _trials_section(summary),
            ]
            if summary.has_trials
            else []
        ),
        *(_split_section(summary, dimension, top) for dimension in DIMENSIONS),
        *(
            ["<h2>Path dependence across vantage points</h2>", _vantage_section(agreement, sources)]
            if agreement is not None and agreement.compared
            else []
        ),
        "<h2>Connection times</h2>",
        '<p class="note">spdr_stop - spdr_start of each successful connection: baseline '
        "(config 0) against experimental (config 1 and up). Quantiles are exact to about 12 %."
        "</p>",
        _times_section(summary),
        "<h2>Failed connections</h2>",
        _errors_section(summary),
        "<h2>Outcomes</h2>",
        _outcomes_section(summary),
    ]
    if comparison is not None:
        body += ["<h2>Against the baseline</h2>", _diff_section(comparison)]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + f"\n<script>{_JS}</script>\n</body></html>\n"
    )
