"""The HTML report: self-contained, complete, escaped; checked by parsing the page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pytest_spider.campaign.html import family_colours
from pytest_spider.campaign.report import write_report

DATA = Path(__file__).parent / "data"
#: Attributes through which a page can make the browser fetch something.
FETCHING = {"src", "href", "xlink:href", "action", "formaction", "poster", "data", "srcset"}
FETCHING_TAGS = {"link", "iframe", "object", "embed", "img", "base", "frame", "audio", "video"}


class Page(HTMLParser):
    """The tags, the fetching attributes, the table ids and the text of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.references: list[str] = []
        self.table_ids: list[str] = []
        self.cells: list[str] = []
        self._in_cell = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.references += [value or "" for name, value in attrs if name in FETCHING]
        if tag == "table":
            self.table_ids.append(dict(attrs).get("id") or "")
        self._in_cell = tag in ("td", "th")

    def handle_endtag(self, tag: str) -> None:
        self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "report.html"
    write_report([DATA / "small.ndjson"], out)
    return out.read_text(encoding="utf-8")


def test_the_page_fetches_nothing(page: str) -> None:
    parsed = Page(page)
    assert not FETCHING_TAGS & set(parsed.tags)
    assert all(ref.startswith("#") for ref in parsed.references), parsed.references
    assert "@import" not in page
    assert not re.search(r"url\((?!#)", page)
    # The only URLs left are XML namespace names, which are never fetched.
    without_namespaces = re.sub(r'xmlns(:\w+)?="[^"]*"', "", page)
    assert "http:" not in without_namespaces and "https:" not in without_namespaces
    assert "//" not in "".join(parsed.references)


def test_the_page_has_every_section_and_chart(page: str) -> None:
    parsed = Page(page)
    # conditions, per vantage, per AS, per country, connection times
    assert parsed.tags.count("svg") == 5
    for heading in (
        "Campaign",
        "Conditions per experiment",
        "Connectivity per vantage point",
        "Connectivity per AS",
        "Connectivity per country",
        "Connection times",
        "Failed connections",
        "Outcomes",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert "Against the baseline" not in page
    assert len(parsed.table_ids) == len(set(parsed.table_ids))


def test_campaign_facts(page: str) -> None:
    facts = dict(re.findall(r"<tr><th>([^<]*)</th><td>([^<]*)</td></tr>", page))
    assert facts["records"] == "8"
    assert facts["targets"] == "6"
    assert facts["experiments"] == "h2 (5), tfo (3)"
    assert facts["vantage points"] == "local (7), remote (1)"
    assert facts["start"] == "2026-11-25 13:58:01 UTC"
    assert facts["duration"] == "6.0 s"
    # Offline targets were contacted: they are counted as such, not among the unmeasured.
    assert facts["offline (records)"] == "1"
    assert facts["excluded (records)"] == "1"
    assert facts["no address (records)"] == "1"
    assert facts["never ran (records)"] == "1"
    assert facts["bad input lines"] == "2"
    assert facts["campaign: version"] == "0.1.0"
    assert facts["campaign: options"] == "timeout=5"
    # Start, end and duration once (the metadata's own are not repeated), no vantage of one
    # process standing for all.
    table = page[page.index('<table class="facts">') :]
    rows = re.findall(r"<tr><th>([^<]*)</th>", table[: table.index("</table>")])
    assert [row for row in rows if re.search(r"start|end|duration|vantage", row)] == [
        "vantage points",
        "start",
        "end",
        "duration",
    ]


def test_tables_carry_the_counted_numbers(page: str) -> None:
    cells = Page(page).cells
    row = cells.index("h2.connectivity.broken")
    assert cells[row - 1 : row + 3] == ["h2", "h2.connectivity.broken", "1", "33.3 %"]
    assert "refused" in cells and "timeout" in cells


def test_diff_section_against_a_baseline(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = write_report([DATA / "new.ndjson"], out, baseline_paths=[DATA / "old.ndjson"])
    assert result.comparison is not None and result.comparison.regressions == 1
    page = out.read_text()
    assert '<p class="bad">1 regression.</p>' in page
    section = page[page.index("<h3>regression (1)</h3>") :]
    cells = Page(section[: section.index("</table>")]).cells
    assert cells[5:] == [
        "h2", "198.18.2.1:443 198-18-2-1.example", "local",
        "h2.connectivity.works", "h2.connectivity.broken",
    ]  # fmt: skip


def test_long_difference_lists_are_cut(tmp_path: Path) -> None:
    def write(path: Path, condition: str) -> None:
        lines = [
            {"dip": f"198.18.{i // 256}.{i % 256}", "experiment": "h2", "conditions": [condition],
             "flow_results": [{"config": 0, "spdr_state": 0}]}
            for i in range(600)
        ]  # fmt: skip
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    write(tmp_path / "old.ndjson", "h2.connectivity.works")
    write(tmp_path / "new.ndjson", "h2.connectivity.broken")
    out = tmp_path / "report.html"
    write_report([tmp_path / "new.ndjson"], out, baseline_paths=[tmp_path / "old.ndjson"])
    page = out.read_text()
    section = page[page.index('id="diff-regression"') :]
    assert section[: section.index("</table>")].count("<tr>") == 1 + 500
    assert "100 more not shown" in page


def test_record_text_is_escaped(tmp_path: Path) -> None:
    record = {
        "dip": "198.18.0.1",
        "experiment": "x<script>",
        "conditions": ["x.connectivity.<b>works</b>"],
        "flow_results": [{"config": 0, "spdr_state": 0}],
        "info": {"ASN": "<i>1</i>", "CountryCode": "<u>"},
    }
    source = tmp_path / "evil.ndjson"
    source.write_text(json.dumps(record) + "\n")
    out = tmp_path / "report.html"
    write_report([source], out, title="<title>")
    page = out.read_text()
    assert "<b>" not in page and "<i>" not in page and "<u>" not in page
    assert page.count("<script") == 1  # the sorter, nothing from the records
    assert "&lt;b&gt;" in page


def test_an_empty_campaign_still_makes_a_page(tmp_path: Path) -> None:
    source = tmp_path / "empty.ndjson"
    source.write_text("")
    out = tmp_path / "report.html"
    result = write_report([source], out)
    assert result.summary.records == 0
    page = out.read_text()
    assert "No measured records." in page
    assert "<svg" not in page


def test_each_condition_family_has_its_own_colours() -> None:
    """works/success and broken/failed were coloured alike: upgrade.failed read as breakage."""
    colours = family_colours(
        [
            "connectivity.works", "connectivity.broken", "connectivity.offline",
            "upgrade.success", "upgrade.failed", "cookie.received", "cookie.not_received",
            "(none)",
        ]
    )  # fmt: skip
    assert list(colours)[:3] == [
        "connectivity.works",
        "connectivity.broken",
        "connectivity.offline",
    ]
    connectivity = {colours[c] for c in colours if c.startswith("connectivity.")}
    upgrade = {colours["upgrade.success"], colours["upgrade.failed"]}
    cookie = {colours["cookie.received"], colours["cookie.not_received"]}
    assert len(upgrade) == 2 and len(cookie) == 2
    assert not (upgrade & connectivity) and not (cookie & connectivity) and not (upgrade & cookie)
    assert colours["(none)"] not in connectivity | upgrade | cookie


def test_the_charts_show_conditions_by_family(tmp_path: Path) -> None:
    flows = [{"config": 0, "spdr_state": 0}, {"config": 1, "spdr_state": 0}]
    records = [
        {"dip": "198.18.0.1", "experiment": "h2", "flow_results": flows,
         "conditions": ["h2.connectivity.works", "h2.upgrade.failed"]},
        {"dip": "198.18.0.2", "experiment": "h2", "flow_results": flows,
         "conditions": ["h2.connectivity.broken"]},
    ]  # fmt: skip
    source = tmp_path / "r.ndjson"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "report.html"
    write_report([source], out)
    page = out.read_text()
    chart = page[: page.index('id="conditions"')]
    legend = set(re.findall(r"<text[^>]*>([^<]*)</text>", chart)) | set(
        re.findall(r"<!-- ([a-z().]+) -->", chart)
    )
    assert {"connectivity.broken", "upgrade.failed"} <= legend, legend
    colours = family_colours(["connectivity.broken", "upgrade.failed"])
    broken, failed = colours["connectivity.broken"], colours["upgrade.failed"]
    assert broken != failed and failed in chart and broken in chart


def test_every_vantage_point_is_shown(tmp_path: Path) -> None:
    """The metadata said vantage: local in a two-vantage run: the controller's own name."""
    flows = [{"config": 0, "spdr_state": 0}]
    source = tmp_path / "r.ndjson"
    source.write_text(
        "".join(
            json.dumps({"dip": "198.18.0.1", "experiment": "h2", "vantage": vantage,
                        "conditions": ["h2.connectivity.works"], "flow_results": flows}) + "\n"
            for vantage in ("east", "west")
        )
    )  # fmt: skip
    sessions = [{"vantage": "local", "vantages": ["east", "north", "west"], "version": "1"}]
    Path(f"{source}.meta.json").write_text(json.dumps({"sessions": sessions}))
    out = tmp_path / "report.html"
    write_report([source], out)
    facts = dict(re.findall(r"<tr><th>([^<]*)</th><td>([^<]*)</td></tr>", out.read_text()))
    assert facts["vantage points"] == "east (1), north (0), west (1)"
    assert "campaign: vantage" not in facts and "campaign: vantages" not in facts


def _vantage_page(tmp_path: Path, rows: list[tuple[str, str, list[str]]]) -> str:
    flows = [{"config": 0, "spdr_state": 0}]
    source = tmp_path / "v.ndjson"
    source.write_text(
        "".join(
            json.dumps({"dip": dip, "dp": 443, "experiment": "h2", "vantage": vantage,
                        "conditions": conditions, "flow_results": flows}) + "\n"
            for dip, vantage, conditions in rows
        )
    )  # fmt: skip
    out = tmp_path / "report.html"
    write_report([source], out)
    return out.read_text()


def test_path_dependent_targets_are_kept_apart_from_those_the_same_everywhere(
    tmp_path: Path,
) -> None:
    works, broken = ["h2.connectivity.works"], ["h2.connectivity.broken"]
    east, west = "east", "<b>west</b>"  # vantage names come from the records: escaped
    page = _vantage_page(
        tmp_path,
        [
            ("198.18.0.1", east, works), ("198.18.0.1", west, works),
            ("198.18.0.2", east, works), ("198.18.0.2", west, broken),
            ("198.18.0.3", east, works),
        ],
    )  # fmt: skip
    assert "<b>west</b>" not in page
    section = page[page.index("<h2>Path dependence across vantage points</h2>") :]
    section = section[: section.index("<h2>", 5)]
    assert section.count("<svg") == 1
    verdict = '<p class="bad">1 path-dependent, 1 of them with a verdict that differs; 1 the '
    assert verdict + "same everywhere.</p>" in section
    parsed = Page(section)
    assert parsed.table_ids == ["vantage-counts", "vantage-targets", "vantage-patterns",
                                "vantage-same"]  # fmt: skip
    counts = section[section.index('id="vantage-counts"') :]
    cells = Page(counts[: counts.index("</table>")]).cells
    assert cells[8:] == ["h2", "3", "1", "1", "1", "1", "1", "50.0 %"]
    targets = section[section.index('id="vantage-targets"') :]
    cells = Page(targets[: targets.index("</table>")]).cells
    # Vantages by name: "<b>west</b>" sorts before "east".
    assert cells == ["kind", "experiment", "target", "from <b>west</b>", "from east",
                     "verdict differs", "h2", "198.18.0.2:443", "h2.connectivity.broken",
                     "h2.connectivity.works"]  # fmt: skip
    same = section[section.index('id="vantage-same"') :]
    cells = Page(same[: same.index("</table>")]).cells
    assert cells[3:] == ["h2", "h2.connectivity.works", "1"]


def test_one_vantage_has_no_path_dependence_section_and_two_without_overlap_say_so(
    tmp_path: Path, page: str
) -> None:
    works = ["h2.connectivity.works"]
    one = _vantage_page(tmp_path, [("198.18.0.1", "east", works), ("198.18.0.2", "east", works)])
    assert "Path dependence" not in one
    # small.ndjson: vantages local and remote, never the same target.
    section = page[page.index("<h2>Path dependence across vantage points</h2>") :]
    section = section[: section.index("<h2>", 5)]
    assert "No target was measured from more than one vantage." in section
    assert "<svg" not in section
