"""The headline figures in RESULTS.md are the numbers in their report.json files.

The convention, for whoever edits RESULTS.md: the line

    <!-- figures checked by tests/test_docs.py -->

right above a table marks it. The table has a column headed "value" and a column headed "source". A row
whose source cell links a `report.json` and names keys in backticks, e.g.

    | `snli:test` accuracy | **60.49%** | [report.json](docs/runs/recipe/sbert/report.json) `test.accuracy` |

gives one number per key in its value cell, in the same order. A key is a path of dictionary keys and list
indices joined by dots (`sts.0.spearman`, `test.report.macro avg.f1-score`). A number followed by `%` is the
report's fraction times 100; every number must equal the report's value rounded to the decimals shown
(thousands separators and bold allowed). A row whose source is anything else (a metrics.jsonl, a sentence)
is not compared, but its source cell may not be empty: every headline figure says where it comes from.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- figures checked by tests/test_docs.py -->"
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%?)")
REPORT_LINK = re.compile(r"\]\(([^)]*report\.json)\)")
KEY = re.compile(r"`([^`]+)`")


def marked_tables(markdown):
    """Each table right after the marker, as a list of rows of cells (the header first)."""
    lines = markdown.splitlines()
    tables = []
    for number, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        rows = []
        for row in lines[number + 1:]:
            if not row.startswith("|"):
                break
            cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
            if not all(set(cell) <= set("-: ") for cell in cells):  # the |---|---| line
                rows.append(cells)
        tables.append(rows)
    return tables


def report_value(report, key):
    value = report
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def shown_numbers(cell):
    """(text as shown, value, decimals, is a percentage) of each number in a cell."""
    return [(match.group(0), float((match.group(1) + (match.group(2) or "")).replace(",", "")),
             len(match.group(2) or ".") - 1, match.group(3) == "%") for match in NUMBER.finditer(cell)]


def mismatches(markdown, root):
    """What differs between the marked tables of `markdown` and the report.json files under `root`."""
    problems = []
    tables = marked_tables(markdown)
    if not tables:
        return [f"no table follows {MARKER}"]
    for header, *rows in tables:
        if "value" not in header or "source" not in header:
            problems.append(f"a marked table needs columns headed 'value' and 'source', not {header}")
            continue
        value_column, source_column = header.index("value"), header.index("source")
        for row in rows:
            label, value, source = row[0], row[value_column], row[source_column]
            link = REPORT_LINK.search(source)
            if not source:
                problems.append(f"{label}: no source")
            elif link:
                problems += row_mismatches(label, value, root / link.group(1), KEY.findall(source[link.end():]))
    return problems


def row_mismatches(label, value, report_path, keys):
    if not report_path.is_file():
        return [f"{label}: {report_path} does not exist"]
    report = json.loads(report_path.read_text())
    numbers = shown_numbers(value)
    if not keys or len(numbers) != len(keys):
        return [f"{label}: {len(numbers)} number(s) in {value!r} but {len(keys)} key(s) of {report_path.name}"]
    problems = []
    for (text, _, decimals, percent), key in zip(numbers, keys):
        try:
            actual = report_value(report, key)
        except (KeyError, IndexError, ValueError, TypeError):
            problems.append(f"{label}: {report_path} has no {key}")
            continue
        expected = f"{actual * (100 if percent else 1):.{decimals}f}"
        if text.replace(",", "").rstrip("%") != expected:
            problems.append(f"{label}: {text} in the text, but {key} in {report_path} is {actual} ({expected})")
    return problems


def test_results_headline_figures_equal_their_reports():
    results = (ROOT / "RESULTS.md").read_text(encoding="utf-8")
    assert mismatches(results, ROOT) == []
    checked = sum(bool(REPORT_LINK.search(row[-1])) for _, *rows in marked_tables(results) for row in rows)
    assert checked >= 3, "the headline's accuracy, F1 and Spearman should be checked rows"


# --- The check itself, on a table written here ----------------------------------------------------------------

REPORT = {"test": {"accuracy": 0.6049470684039088, "report": {"macro avg": {"f1-score": 0.6037}}},
          "sts": [{"spearman": 51.768421046224574}], "heldout": {"step": 2680}}
TABLE = f"""Text before.

{MARKER}
| | value | target | source |
|---|---:|---:|---|
| accuracy | **60.49%** | ≥ 70% | [report.json](run/report.json) `test.accuracy` |
| macro F1, Spearman | 0.604 / 51.77 | | [report.json](run/report.json) `test.report.macro avg.f1-score` `sts.0.spearman` |
| steps | 2,680 steps | | [the report](run/report.json): `heldout.step` |
| minutes | 60.02 min | | [metrics.jsonl](run/metrics.jsonl), the last `elapsed` |
"""


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.json").write_text(json.dumps(REPORT))
    return tmp_path


def test_a_table_that_matches_its_report_passes(run_dir):
    assert mismatches(TABLE, run_dir) == []


@pytest.mark.parametrize("shown, wrong", [("**60.49%**", "**60.50%**"), ("0.604 /", "0.605 /"),
                                          ("51.77 |", "51.78 |"), ("2,680 steps", "2,681 steps")])
def test_a_wrong_figure_fails_and_is_named(run_dir, shown, wrong):
    problems = mismatches(TABLE.replace(shown, wrong), run_dir)
    assert len(problems) == 1 and wrong.strip(" |*/").split()[0] in problems[0]


def test_a_row_without_source_a_missing_key_or_a_stray_number_fails(run_dir):
    assert mismatches(TABLE.replace("[metrics.jsonl](run/metrics.jsonl), the last `elapsed`", ""), run_dir) == [
        "minutes: no source"]
    assert "has no test.acuracy" in mismatches(TABLE.replace("`test.accuracy`", "`test.acuracy`"), run_dir)[0]
    assert "2 number(s)" in mismatches(TABLE.replace("**60.49%**", "**60.49%** (of 9,824)"), run_dir)[0]
    assert mismatches(TABLE.replace("run/report.json)", "gone/report.json)", 1), run_dir)[0].endswith(
        "does not exist")
    assert mismatches(TABLE.replace(MARKER, ""), run_dir) == [f"no table follows {MARKER}"]
