"""The documents' figures are their logs' figures, and their links lead somewhere.

**Marked tables.** A line

    <!-- figures checked by tests/test_docs.py -->

right above a table in README.md, RESULTS.md or any docs/**/*.md marks it; so does

    <!-- figures checked by tests/test_docs.py: python docs/runs/report_tables.py NAME -->

which also asks that the table be, line for line, what `python docs/runs/report_tables.py NAME` prints (the
script computes every derived figure from unrounded logged values). A marked table with columns headed "value"
and "source" has its rows checked against the report.json files their source cells link (paths relative to the
document):

- one link, then keys in backticks: the value cell holds one number per key, in order;
      | accuracy | **66.32%** | [report.json](docs/runs/recipe4/sbert/report.json) `test.accuracy` |
- several links: each number is the mean of its key over those reports (seeds, say);
      | mean of 2 seeds | 65.85% / 69.84 | [seed 0](a/report.json) [seed 1](b/report.json) `test.accuracy` `sts.0.spearman` |
- links, the word "minus", more links: the mean over the first group minus the mean over the second;
      | pays | +1.93 points / +7.51 | [s0](a/report.json) [s1](b/report.json) minus [s0](c/report.json) [s1](d/report.json) `test.accuracy` × 100 `sts.0.spearman` |
- a number written after "±" is the standard deviation (n − 1) of the previous number's key over the first
  group's reports, and takes no key of its own:  | 65.85% ± 0.66 | [s0](a/report.json) [s1](b/report.json) `test.accuracy` |

A key is a path of dictionary keys and list indices joined by dots (`sts.0.spearman`, `test.report.macro
avg.f1-score`). A number followed by `%`, or a key followed by `× 100`, is the report's fraction times 100. A
number must equal the computed value rounded to the decimals shown, sign included (`+`, `-` or `−`; thousands
separators and bold allowed). A row whose source links no report.json (a metrics.jsonl, a sentence) is not
compared, but its source cell may not be empty.

**Links.** Every link of README.md, RESULTS.md and docs/**/*.md (but the logs under docs/runs/, kept as the
scripts wrote them) leads to a committed file or folder, and a
`#fragment` to a heading of the target markdown file, spelt as GitHub spells anchors (lower case, spaces to
`-`, punctuation other than `-` and `_` dropped; a repeated heading gets `-1`, `-2`, ...).
"""
import json
import re
import subprocess
from functools import lru_cache
from pathlib import Path
from statistics import mean, stdev

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- figures checked by tests/test_docs.py"
SCRIPT_MARKER = re.compile(re.escape(MARKER) + r": python (\S+) (\w+) -->$")
NUMBER = re.compile(r"(±\s*)?(?<![\w.])([+\-−]?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%?)")
REPORT_LINK = re.compile(r"\]\(([^)]*report\.json)\)")
KEY = re.compile(r"`([^`]+)`(\s*×\s*100)?")
MINUS = re.compile(r"\bminus\b")


def documents():
    """README.md, RESULTS.md and every markdown file under docs/ but the logs of docs/runs/ (the reports the
    scripts wrote, committed as written; their charts were not all kept)."""
    runs = ROOT / "docs" / "runs"
    return [ROOT / "README.md", ROOT / "RESULTS.md"] + sorted(
        path for path in (ROOT / "docs").rglob("*.md") if runs not in path.parents)


# --- Marked tables ----------------------------------------------------------------------------------------------

def marked_tables(markdown):
    """(script, table name or None, rows of cells with the header first, the table's lines) of each marked
    table."""
    lines = markdown.splitlines()
    tables = []
    for number, line in enumerate(lines):
        if not line.strip().startswith(MARKER):
            continue
        named = SCRIPT_MARKER.match(line.strip())
        table_lines = []
        for row in lines[number + 1:]:
            if not row.startswith("|"):
                break
            table_lines.append(row)
        rows = [cells(row) for row in table_lines if not all(set(cell) <= set("-: ") for cell in cells(row))]
        tables.append((named and named.group(1), named and named.group(2), rows, table_lines))
    return tables


def cells(row):
    """The cells of a table row; `\\|` inside a cell is a literal bar."""
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def report_value(report, key):
    value = report
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def shown_numbers(cell):
    """(text as shown, decimals, is a percentage, is a standard deviation) of each number in a cell."""
    found = []
    for match in NUMBER.finditer(cell):
        sd, sign, whole, fraction, percent = match.groups()
        text = (sign.replace("−", "-") if sign else "") + whole.replace(",", "") + (fraction or "")
        found.append((match.group(0).strip("± "), text.lstrip("+"), len(fraction or ".") - 1, percent == "%",
                      bool(sd)))
    return found


def mismatches(markdown, root, tables_script=None):
    """What differs between the marked tables of `markdown` and their logs: the report.json files under `root`
    (the directory links are relative to), and the named tables of the tables script."""
    problems = []
    tables = marked_tables(markdown)
    if not tables:
        return [f"no table follows {MARKER} -->"]
    for script, name, (header, *rows), table_lines in tables:
        if name is not None:
            problems += script_mismatches(name, table_lines, tables_script or load_script(ROOT / script))
        if "value" in header and "source" in header:
            problems += source_mismatches(header, rows, root)
        elif name is None:
            problems.append(f"a marked table needs columns headed 'value' and 'source', not {header}")
    return problems


def source_mismatches(header, rows, root):
    value_column, source_column = header.index("value"), header.index("source")
    problems = []
    for row in rows:
        label, value, source = row[0], row[value_column], row[source_column]
        if not source:
            problems.append(f"{label}: no source")
            continue
        links = list(REPORT_LINK.finditer(source))
        if not links:
            continue
        split = MINUS.search(source)
        groups = [[root / link.group(1) for link in links if not split or link.start() < split.start()],
                  [root / link.group(1) for link in links if split and link.start() > split.start()]]
        keys = [(key, bool(times_100)) for key, times_100 in KEY.findall(source[links[-1].end():])]
        problems += row_mismatches(label, value, groups, keys)
    return problems


def row_mismatches(label, value, groups, keys):
    missing = [path for group in groups for path in group if not path.is_file()]
    if missing:
        return [f"{label}: {missing[0]} does not exist"]
    reports = [[json.loads(path.read_text()) for path in group] for group in groups]
    numbers = shown_numbers(value)
    figures = [number for number in numbers if not number[4]]
    if not keys or len(figures) != len(keys):
        return [f"{label}: {len(figures)} number(s) in {value!r} but {len(keys)} key(s) in its source"]
    problems = []
    previous = None  # the key and scale of the last figure, which a ± number describes
    keys = iter(keys)
    for shown, text, decimals, percent, is_sd in numbers:
        if is_sd and previous is None:
            problems.append(f"{label}: ± {shown} follows no figure")
            continue
        if is_sd:
            key, scale = previous
        else:
            key, times_100 = next(keys)
            scale = 100 if percent or times_100 else 1
            previous = key, scale
        try:
            values = [[report_value(report, key) for report in group] for group in reports]
        except (KeyError, IndexError, ValueError, TypeError):
            problems.append(f"{label}: a report of its source has no {key}")
            continue
        if is_sd:
            actual = stdev(values[0]) * scale if len(values[0]) > 1 else float("nan")
        else:
            actual = (mean(values[0]) - (mean(values[1]) if values[1] else 0)) * scale
        expected = f"{actual:.{decimals}f}".replace("-0.00", "0.00")
        if text != expected:
            what = "the standard deviation of" if is_sd else "the difference of" if values[1] else "the mean of" \
                if len(values[0]) > 1 else ""
            problems.append(f"{label}: {shown} in the text, but {what} {key} in its report(s) gives {expected}"
                            .replace("  ", " "))
    return problems


def script_mismatches(name, table_lines, script):
    if name not in script.TABLES:
        return [f"the tables script has no table {name!r}"]
    expected = script.TABLES[name]()
    problems = []
    for number, (shown, wanted) in enumerate(zip(table_lines, expected)):
        if shown.strip() == wanted.strip():
            continue
        label = cells(wanted)[0] or f"row {number}"
        pairs = list(zip(shown_numbers(shown), shown_numbers(wanted)))
        differing = [(a[0], b[0]) for a, b in pairs if a[1] != b[1]]
        if differing:
            problems.append(f"table {name}, {label}: {differing[0][0]} in the text, the logs give {differing[0][1]}")
        else:
            problems.append(f"table {name}, {label}: the row differs from the script's: {wanted}")
    if len(table_lines) != len(expected):
        problems.append(f"table {name}: {len(table_lines)} lines in the text, the script prints {len(expected)}")
    return problems


@pytest.mark.parametrize("name", ["README.md", "RESULTS.md"])
def test_the_results_tables_equal_their_logs(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    assert mismatches(text, ROOT) == []
    checked = sum(bool(REPORT_LINK.search(row[-1])) for _, _, (_, *rows), _ in marked_tables(text) for row in rows)
    assert checked >= 3, f"{name}: the headline's accuracy, F1 and Spearman should be checked rows"


def test_results_marks_its_headline_transfer_and_lever_tables():
    named = {name for _, name, _, _ in marked_tables((ROOT / "RESULTS.md").read_text(encoding="utf-8"))}
    assert {"headline", "transfer", "hours", "tried"} <= named


def test_every_marked_table_in_the_docs_equals_its_logs():
    for path in documents()[2:]:
        text = path.read_text(encoding="utf-8")
        if MARKER in text:
            assert mismatches(text, path.parent) == [], path


# --- Links ------------------------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)


def prose(markdown):
    """The markdown without fenced code blocks and inline code, where brackets are not links."""
    return CODE.sub("", FENCE.sub("", markdown))


def anchor(heading):
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return "".join(c for c in text if c.isalnum() or c in " -_").replace(" ", "-")


def anchors(markdown):
    found, seen = set(), {}
    for line in FENCE.sub("", markdown).splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            name = anchor(heading.group(1))
            found.add(name if name not in seen else f"{name}-{seen[name]}")
            seen[name] = seen.get(name, 0) + 1
    return found


@lru_cache(maxsize=1)
def committed(root=ROOT):
    """The repository's tracked files (the index), or None where git cannot say."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {root / name for name in out.decode().split("\0") if name}


def broken_links(path, root=ROOT, tracked=None):
    """Each link of the markdown file `path` that leads nowhere, with the reason."""
    tracked = committed() if tracked is None else tracked
    folders = None if tracked is None else {parent for file in tracked for parent in file.parents}
    text = path.read_text(encoding="utf-8")
    problems = []
    for match in LINK.finditer(prose(text)):
        target = match.group(1)
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        where = (path.parent / file_part).resolve() if file_part else path
        name = f"{path.relative_to(root)}: ({target})"
        if tracked is None:
            exists = where.exists()
        else:
            exists = where in tracked or where in folders
        if not exists:
            problems.append(f"{name} leads to no committed file")
        elif fragment and where.suffix == ".md" and fragment not in anchors(where.read_text(encoding="utf-8")):
            problems.append(f"{name}: {where.name} has no heading #{fragment}")
    return problems


def test_every_link_in_the_documents_resolves():
    problems = [problem for path in documents() for problem in broken_links(path)]
    assert problems == []


# --- The checks themselves, on documents written here -----------------------------------------------------------

REPORT = {"test": {"accuracy": 0.6049470684039088, "report": {"macro avg": {"f1-score": 0.6037}}},
          "sts": [{"spearman": 51.768421046224574}], "heldout": {"step": 2680}}
SEED_1 = {"test": {"accuracy": 0.6291}, "sts": [{"spearman": 53.0}]}
RANDOM = {"test": {"accuracy": 0.5932}, "sts": [{"spearman": 40.5}]}
TABLE = f"""Text before.

{MARKER} -->
| | value | target | source |
|---|---:|---:|---|
| accuracy | **60.49%** | ≥ 70% | [report.json](run/report.json) `test.accuracy` |
| macro F1, Spearman | 0.604 / 51.77 | | [report.json](run/report.json) `test.report.macro avg.f1-score` `sts.0.spearman` |
| steps | 2,680 steps | | [the report](run/report.json): `heldout.step` |
| minutes | 60.02 min | | [metrics.jsonl](run/metrics.jsonl), the last `elapsed` |
| mean of two seeds | 61.70% / 52.38 | | [seed 0](run/report.json) [seed 1](seed1/report.json) `test.accuracy` `sts.0.spearman` |
| mean ± sd | 61.70% ± 1.71 | | [seed 0](run/report.json) [seed 1](seed1/report.json) `test.accuracy` |
| pays | +2.38 points / +11.88 | | [seed 0](run/report.json) [seed 1](seed1/report.json) minus [random](random/report.json) `test.accuracy` × 100 `sts.0.spearman` |
"""


@pytest.fixture
def run_dir(tmp_path):
    for name, report in (("run", REPORT), ("seed1", SEED_1), ("random", RANDOM)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(report))
    return tmp_path


def test_a_table_that_matches_its_reports_passes(run_dir):
    assert mismatches(TABLE, run_dir) == []


@pytest.mark.parametrize("shown, wrong", [("**60.49%**", "**60.50%**"), ("0.604 /", "0.605 /"),
                                          ("51.77 |", "51.78 |"), ("2,680 steps", "2,681 steps"),
                                          ("61.70% / 52.38", "61.71% / 52.38"), ("± 1.71", "± 1.72"),
                                          ("+2.38 points", "+2.37 points"), ("/ +11.88", "/ +11.89"),
                                          ("+2.38 points", "−2.38 points")])
def test_a_wrong_figure_fails_and_is_named(run_dir, shown, wrong):
    problems = mismatches(TABLE.replace(shown, wrong), run_dir)
    figure = NUMBER.search(wrong).group(0).strip("± ")
    assert len(problems) == 1 and f"{figure} in the text" in problems[0], problems


def test_a_row_without_source_a_missing_key_or_a_stray_number_fails(run_dir):
    assert mismatches(TABLE.replace("[metrics.jsonl](run/metrics.jsonl), the last `elapsed`", ""), run_dir) == [
        "minutes: no source"]
    assert "has no test.acuracy" in mismatches(TABLE.replace("`test.accuracy` |", "`test.acuracy` |", 1),
                                               run_dir)[0]
    assert "2 number(s)" in mismatches(TABLE.replace("**60.49%**", "**60.49%** (of 9,824)"), run_dir)[0]
    assert mismatches(TABLE.replace("run/report.json)", "gone/report.json)", 1), run_dir)[0].endswith(
        "does not exist")
    assert mismatches(TABLE.replace(f"{MARKER} -->", ""), run_dir) == [f"no table follows {MARKER} -->"]


class TablesScript:
    """A stand-in for docs/runs/report_tables.py."""
    TABLES = {"speed": lambda: ["| run | steps |", "|---|---:|", "| recipe | 5,907 |", "| lever | 6,217 |"]}


SCRIPT_TABLE = f"""{MARKER}: python docs/runs/report_tables.py speed -->
| run | steps |
|---|---:|
| recipe | 5,907 |
| lever | 6,217 |
"""


def test_a_table_named_after_the_script_must_be_its_output():
    assert mismatches(SCRIPT_TABLE, ROOT, TablesScript) == []
    assert mismatches(SCRIPT_TABLE.replace("6,217", "6,218"), ROOT, TablesScript) == [
        "table speed, lever: 6,218 in the text, the logs give 6,217"]
    assert mismatches(SCRIPT_TABLE.replace("| lever | 6,217 |\n", ""), ROOT, TablesScript) == [
        "table speed: 3 lines in the text, the script prints 4"]
    assert "the row differs" in mismatches(SCRIPT_TABLE.replace("lever", "levers"), ROOT, TablesScript)[0]
    assert mismatches(SCRIPT_TABLE.replace("speed", "sped"), ROOT, TablesScript) == [
        "the tables script has no table 'sped'"]


def test_anchors_follow_githubs_rule():
    assert anchors("# 5. Does pre-training pay?\n## bf16 on a CPU: `--precision`\n```\n# not a heading\n```\n"
                   "## Notes\n## Notes\n") == {"5-does-pre-training-pay", "bf16-on-a-cpu---precision", "notes",
                                               "notes-1"}


def test_a_broken_link_or_anchor_fails_and_is_named(tmp_path):
    tmp_path = tmp_path.resolve()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](docs/other.md#a-section) [self](#title) [web](https://example.org/x) `[code](gone.md)`\n"
                    "# Title\n[gone](docs/gone.md) [no heading](docs/other.md#nowhere) [folder](docs/)\n")
    tracked = {tmp_path / "page.md", tmp_path / "docs" / "other.md"}
    assert broken_links(page, tmp_path, tracked) == [
        "page.md: (docs/gone.md) leads to no committed file",
        "page.md: (docs/other.md#nowhere): other.md has no heading #nowhere"]
    (tmp_path / "docs" / "new.md").write_text("# New\n")  # on disk, not committed
    page.write_text("[new](docs/new.md)\n")
    assert broken_links(page, tmp_path, tracked) == ["page.md: (docs/new.md) leads to no committed file"]
