"""The SVG charts parse as XML and hold the elements their data calls for."""
import re
import xml.etree.ElementTree as ElementTree

import pytest

from agree.charts import bar_chart, confusion_matrix_chart, line_chart, nice_ticks, training_charts, write_svg

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE_NAME = '<script>alert("x")</script> & co'


def parse(svg):
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    return root


def with_class(root, tag, name):
    return [element for element in root.iter(f"{SVG}{tag}") if element.get("class") == name]


def texts(root):
    return [element.text for element in root.iter(f"{SVG}text")]


def path_points(path):
    """[(x, y), ...] per segment of a path's d attribute: each M starts a segment, each L extends it."""
    segments = []
    for command, x, y in re.findall(r"([ML])(-?[\d.]+) (-?[\d.]+)", path.get("d")):
        if command == "M":
            segments.append([])
        segments[-1].append((float(x), float(y)))
    return segments


# --- axes -------------------------------------------------------------------------------------------------

def test_nice_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.31, 0.87) == [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert nice_ticks(0, 2000) == [0, 500, 1000, 1500, 2000]


def test_nice_ticks_open_a_window_around_a_single_value():
    ticks = nice_ticks(5, 5)
    assert ticks[0] < 5 < ticks[-1] and len(ticks) >= 3


def test_tick_labels_show_as_many_decimals_as_the_step_needs():
    root = parse(line_chart({"accuracy": [(0, 0.0), (2000, 1.0)]}, "t", "step", "accuracy"))
    assert {"0", "500", "2000", "0.0", "0.2", "1.0"} <= set(texts(root))
    assert "0.20" not in texts(root) and "500.0" not in texts(root)


# --- line chart -------------------------------------------------------------------------------------------

def test_line_chart_draws_one_path_per_series_with_every_point():
    root = parse(line_chart({"train": [(0, 3.0), (1, 2.0), (2, 1.5)], "val": [(0, 3.2), (2, 1.9)]},
                            "loss", "step", "loss"))
    paths = with_class(root, "path", "series")
    assert [len(path_points(path)[0]) for path in paths] == [3, 2]
    assert {"train", "val", "loss", "step"} <= set(texts(root))


def test_line_chart_puts_larger_values_higher_and_later_steps_further_right():
    root = parse(line_chart({"rise": [(0, 0.0), (10, 1.0)]}, "t", "x", "y"))
    (start, end), = path_points(with_class(root, "path", "series")[0])
    assert end[0] > start[0]      # x grows to the right
    assert end[1] < start[1]      # SVG's y grows downwards, so a larger value sits higher


def test_line_chart_leaves_gaps_at_missing_values():
    points = [(0, 1.0), (1, None), (2, 3.0), (3, 4.0), (4, float("nan")), (5, 2.0), (6, float("inf"))]
    root = parse(line_chart({"loss": points}, "t", "x", "y"))
    segments = path_points(with_class(root, "path", "series")[0])
    assert [len(segment) for segment in segments] == [1, 2, 1]
    # The two lone points (steps 0 and 5) get a dot each, since a path does not draw a lone point.
    assert len(with_class(root, "circle", "lone-point")) == 2


def test_line_chart_with_a_single_point():
    root = parse(line_chart({"accuracy": [(100, 0.5)]}, "t", "step", "accuracy"))
    assert len(with_class(root, "circle", "lone-point")) == 1
    assert [len(segment) for segment in path_points(with_class(root, "path", "series")[0])] == [1]


def test_line_chart_without_any_point_says_so():
    root = parse(line_chart({"loss": [(0, None)]}, "t", "x", "y"))
    assert "no data" in texts(root)


def test_line_chart_escapes_names_and_title():
    svg = line_chart({HOSTILE_NAME: [(0, 1.0), (1, 2.0)]}, HOSTILE_NAME, "x & y", "<y>")
    assert "<script" not in svg
    root = parse(svg)
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    assert HOSTILE_NAME in texts(root) and "x & y" in texts(root)
    assert root.find(f"{SVG}title").text == HOSTILE_NAME


# --- confusion matrix -------------------------------------------------------------------------------------

def cells(root):
    return with_class(root, "rect", "cell")


def test_confusion_matrix_chart_has_a_cell_and_count_per_pair():
    root = parse(confusion_matrix_chart([[5, 1, 0], [2, 7, 1], [0, 3, 9]],
                                        ["entailment", "neutral", "contradiction"], "SNLI test"))
    assert len(cells(root)) == 9
    assert [text for text in texts(root) if text.isdigit()] == ["5", "1", "0", "2", "7", "1", "0", "3", "9"]
    assert {"true", "predicted", "SNLI test", "contradiction"} <= set(texts(root))


def test_confusion_matrix_chart_shades_by_share_of_the_row():
    # Row 0 is [1, 0]: its single count is the whole row, so it is darkest, although 1 is the smallest
    # count. Row 1 is [100, 100]: each cell holds half the row, so both get the same middle shade.
    root = parse(confusion_matrix_chart([[1, 0], [100, 100]], ["a", "b"], "t"))
    fills = [cell.get("fill") for cell in cells(root)]
    assert fills[0] == "rgb(0,114,178)"
    assert fills[1] == "rgb(255,255,255)"
    assert fills[2] == fills[3] != fills[0]


def test_confusion_matrix_chart_handles_an_empty_row_and_escapes_names():
    svg = confusion_matrix_chart([[0, 0], [1, 2]], [HOSTILE_NAME, "b"], HOSTILE_NAME)
    root = parse(svg)
    assert [cell.get("fill") for cell in cells(root)][:2] == ["rgb(255,255,255)"] * 2
    assert HOSTILE_NAME in texts(root) and "<script" not in svg


def test_confusion_matrix_chart_rejects_a_matrix_that_does_not_fit_the_names():
    with pytest.raises(ValueError, match="2 x 2"):
        confusion_matrix_chart([[1, 2, 3], [4, 5, 6]], ["a", "b"], "t")


# --- bar chart --------------------------------------------------------------------------------------------

def test_bar_chart_draws_bars_in_proportion():
    root = parse(bar_chart({"entailment": 1.0, "neutral": 0.5, "contradiction": 0.0}, "probabilities"))
    widths = [float(bar.get("width")) for bar in with_class(root, "rect", "bar")]
    assert len(widths) == 3
    assert widths[1] == pytest.approx(widths[0] / 2, abs=0.1) and widths[2] == 0
    assert {"entailment", "neutral", "contradiction", "probabilities"} <= set(texts(root))


def test_bar_chart_keeps_probabilities_on_a_zero_to_one_axis():
    # 0.25 of an axis that ends at 1 is a quarter of the width a value of 1 would get.
    short = parse(bar_chart({"a": 0.25}, "t"))
    full = parse(bar_chart({"a": 1.0}, "t"))
    width = lambda root: float(with_class(root, "rect", "bar")[0].get("width"))
    assert width(short) == pytest.approx(width(full) / 4, abs=0.1)


def test_bar_chart_escapes_names_and_rejects_negative_values():
    svg = bar_chart({HOSTILE_NAME: 0.3}, "t")
    assert HOSTILE_NAME in texts(parse(svg)) and "<script" not in svg
    with pytest.raises(ValueError, match="-0.5"):
        bar_chart({"a": -0.5}, "t")


# --- training charts --------------------------------------------------------------------------------------

RECORDS = [
    {"step": 10, "loss": 5.0, "mlm_accuracy": 0.1, "nsp_accuracy": 0.5, "lr": 1e-4},
    {"loss": 9.9, "note": "a record without a step is not a point"},
    {"step": 20, "loss": 4.0, "mlm_accuracy": 0.2, "nsp_accuracy": 0.6, "lr": 1e-4, "nan_loss_skipped": False},
    {"step": 20, "split": "val", "val_loss": 4.5, "val_accuracy": 0.3},
    {"step": 30, "split": "val", "loss": 4.2},
    {"step": 40, "val_loss": None},
    {"step": 50, "val_loss": 4.0},
]


def segment_lengths(svg):
    """{legend name: [points in each unbroken piece of its line]} for a line chart."""
    root = parse(svg)
    names = [text.text for text in with_class(root, "text", "legend")]
    lines = with_class(root, "path", "series")
    return {name: [len(segment) for segment in path_points(line)] for name, line in zip(names, lines)}


def test_training_charts_group_losses_and_accuracies():
    charts = training_charts(RECORDS)
    assert set(charts) == {"loss.svg", "accuracy.svg"}
    # The split tells apart the two "loss" keys; "val_loss" already names its split; lr is in neither chart,
    # nor is the flag nan_loss_skipped, although its name holds "loss";
    # the record without a step adds nothing (not even a gap); the logged None breaks the val_loss line.
    assert segment_lengths(charts["loss.svg"]) == {"loss": [2], "val_loss": [1, 1], "val loss": [1]}
    assert segment_lengths(charts["accuracy.svg"]) == {
        "mlm_accuracy": [2], "nsp_accuracy": [2], "val_accuracy": [1]}


def test_training_charts_leave_out_a_chart_with_nothing_to_show():
    assert set(training_charts([{"step": 1, "loss": 2.0, "lr": 0.1}])) == {"loss.svg"}
    assert training_charts([]) == {}


def test_write_svg_writes_the_whole_file(tmp_path):
    svg = bar_chart({"a": 0.5}, "t")
    write_svg(tmp_path / "charts" / "bar.svg", svg)
    assert (tmp_path / "charts" / "bar.svg").read_text(encoding="utf-8") == svg
    assert [path.name for path in (tmp_path / "charts").iterdir()] == ["bar.svg"]
