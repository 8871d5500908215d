"""Small charts as hand-written SVG: training curves, a confusion-matrix heatmap, horizontal bars.

SVG is plain XML text, so a chart is a string built from a few elements (<line>, <path>, <rect>, <text>)
and no plotting library is needed. Every chart is about 480 x 300 user units and scales with its viewBox.
Text that comes from the caller (titles, class and series names) is XML-escaped, so any name is safe.
"""
import html
import math

from agree.atomic import atomic_write_text

WIDTH, HEIGHT = 480, 300
# Okabe & Ito's palette: distinguishable with the common forms of colour blindness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
GRID_COLOUR, AXIS_COLOUR, HEAT_COLOUR = "#dddddd", "#444444", (0, 114, 178)


# --- SVG text ---------------------------------------------------------------------------------------------

def _escape(text):
    # quote=True also escapes " and ', so the result is safe inside attribute values too.
    return html.escape(str(text), quote=True)


def _number(value):
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x, y, content, anchor="start", size=11, extra=""):
    return (f'<text x="{_number(x)}" y="{_number(y)}" text-anchor="{anchor}" font-size="{size}"{extra}>'
            f"{_escape(content)}</text>")


def _line(x1, y1, x2, y2, colour=GRID_COLOUR):
    return (f'<line x1="{_number(x1)}" y1="{_number(y1)}" x2="{_number(x2)}" y2="{_number(y2)}" '
            f'stroke="{colour}"/>')


def _vertical_text(x, y, content):
    """Text turned a quarter to the left around its own centre, for the label of a vertical axis."""
    return _text(x, y, content, anchor="middle", extra=f' transform="rotate(-90 {_number(x)} {_number(y)})"')


def _document(width, height, title, body):
    """Wrap the chart's elements in an <svg> root with a white background and the title on top."""
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f"<title>{_escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        _text(width / 2, 20, title, anchor="middle", size=14, extra=' font-weight="bold"'),
        *body,
        "</svg>",
    ]) + "\n"


# --- axes -------------------------------------------------------------------------------------------------

def _nice_step(rough_step):
    """Round a step to 1, 2 or 5 times a power of ten, so tick labels are easy to read."""
    power = 10 ** math.floor(math.log10(rough_step))
    fraction = rough_step / power
    for limit, nice in ((1.5, 1), (3, 2), (7, 5)):
        if fraction < limit:
            return nice * power
    return 10 * power


def _decimals(step):
    """How many decimals a tick label needs: 0 for a step of 5 or 20, 1 for 0.2, 2 for 0.05."""
    # Every nice step has one significant digit; rounding to it first turns a step measured as
    # 0.009999999776 (the difference of two large ticks) back into 0.01.
    return max(0, -math.floor(math.log10(float(f"{step:.1g}"))))


def nice_ticks(low, high, count=5):
    """About `count` evenly spaced round values that cover [low, high]."""
    if low == high:
        # One value has no range to divide; open a window of 10% around it (or +-1 around zero).
        padding = abs(low) * 0.1 or 1.0
        low, high = low - padding, high + padding
    step = _nice_step((high - low) / (count - 1))
    first, last = math.floor(low / step), math.ceil(high / step)
    # Rounding to the step's decimals removes float noise such as 0.30000000000000004.
    return [round(index * step, _decimals(step)) for index in range(first, last + 1)]


def _tick_label(value, ticks):
    step = ticks[1] - ticks[0]
    return f"{value:.{_decimals(step)}f}"


def _scale(ticks, start_pixel, end_pixel):
    """A function from data values to pixels that maps the first tick to start and the last to end."""
    low, high = ticks[0], ticks[-1]
    return lambda value: start_pixel + (value - low) / (high - low) * (end_pixel - start_pixel)


def _axes(x_ticks, y_ticks, to_x, to_y, x_label, y_label):
    """Grid lines and tick labels at every tick, then the two axis lines and their labels."""
    left, right, bottom, top = to_x(x_ticks[0]), to_x(x_ticks[-1]), to_y(y_ticks[0]), to_y(y_ticks[-1])
    elements = []
    for tick in x_ticks:
        x = to_x(tick)
        elements.append(_line(x, top, x, bottom))
        elements.append(_text(x, bottom + 15, _tick_label(tick, x_ticks), anchor="middle", size=10))
    for tick in y_ticks:
        y = to_y(tick)
        elements.append(_line(left, y, right, y))
        elements.append(_text(left - 5, y + 3.5, _tick_label(tick, y_ticks), anchor="end", size=10))
    elements.append(f'<path d="M{_number(left)} {_number(top)} V{_number(bottom)} H{_number(right)}" '
                    f'fill="none" stroke="{AXIS_COLOUR}"/>')
    elements.append(_text((left + right) / 2, bottom + 32, x_label, anchor="middle"))
    elements.append(_vertical_text(14, (top + bottom) / 2, y_label))
    return elements


# --- line chart -------------------------------------------------------------------------------------------

def _is_gap(value):
    # A diverged loss (inf) cannot be placed on an axis either, so it leaves a gap like a missing value.
    return value is None or not math.isfinite(value)


def _segments(points):
    """Split a series at missing values (None, NaN, inf) so the line shows a gap instead of bridging it."""
    segments, current = [], []
    for x, y in points:
        if _is_gap(x) or _is_gap(y):
            if current:
                segments.append(current)
            current = []
        else:
            current.append((x, y))
    if current:
        segments.append(current)
    return segments


def _series_elements(segments, colour, to_x, to_y):
    """One <path> for the whole series (a move-to starts each segment) and a dot for each lone point,
    which a path alone would not draw."""
    commands = []
    for segment in segments:
        commands.append(" ".join(("M" if index == 0 else "L") + f"{_number(to_x(x))} {_number(to_y(y))}"
                                 for index, (x, y) in enumerate(segment)))
    elements = [f'<path class="series" d="{" ".join(commands)}" fill="none" stroke="{colour}" '
                f'stroke-width="2"/>']
    for segment in segments:
        if len(segment) == 1:
            (x, y), = segment
            elements.append(f'<circle class="lone-point" cx="{_number(to_x(x))}" cy="{_number(to_y(y))}" '
                            f'r="3" fill="{colour}"/>')
    return elements


def _legend(names, left, top):
    elements = []
    for index, name in enumerate(names):
        y = top + 18 * index
        colour = PALETTE[index % len(PALETTE)]
        elements.append(f'<rect x="{left}" y="{y - 8}" width="12" height="3" fill="{colour}"/>')
        elements.append(_text(left + 17, y - 3, name, size=10, extra=' class="legend"'))
    return elements


def line_chart(series, title, x_label, y_label):
    """Lines from {name: [(x, y), ...]}, drawn in the order given; None, NaN or inf leaves a gap in a line."""
    plot_left, plot_right, plot_top, plot_bottom = 60, WIDTH - 130, 40, HEIGHT - 50
    segments = {name: _segments(points) for name, points in series.items()}
    drawn = [point for parts in segments.values() for part in parts for point in part]
    if not drawn:
        return _document(WIDTH, HEIGHT, title, [_text(WIDTH / 2, HEIGHT / 2, "no data", anchor="middle")])
    x_ticks = nice_ticks(min(x for x, _ in drawn), max(x for x, _ in drawn))
    y_ticks = nice_ticks(min(y for _, y in drawn), max(y for _, y in drawn))
    to_x, to_y = _scale(x_ticks, plot_left, plot_right), _scale(y_ticks, plot_bottom, plot_top)
    body = _axes(x_ticks, y_ticks, to_x, to_y, x_label, y_label)
    for index, parts in enumerate(segments.values()):
        body += _series_elements(parts, PALETTE[index % len(PALETTE)], to_x, to_y)
    body += _legend(list(series), plot_right + 15, plot_top + 8)
    return _document(WIDTH, HEIGHT, title, body)


# --- confusion matrix -------------------------------------------------------------------------------------

def _heat_colour(fraction):
    """Blend from white (0) to the heat colour (1)."""
    red, green, blue = (round(255 + (channel - 255) * fraction) for channel in HEAT_COLOUR)
    return f"rgb({red},{green},{blue})"


def _heat_cell(x, y, size, count, share, hover):
    """A square shaded by `share`, its count written in the middle and `hover` shown as a tooltip."""
    square = (f'<rect class="cell" x="{_number(x)}" y="{_number(y)}" width="{_number(size)}" '
              f'height="{_number(size)}" fill="{_heat_colour(share)}" stroke="white">'
              f"<title>{_escape(hover)}</title></rect>")
    # Dark text on light cells and light text on dark ones keeps every count readable.
    ink = ' fill="white"' if share > 0.5 else ""
    return [square, _text(x + size / 2, y + size / 2 + 4, count, anchor="middle", size=12, extra=ink)]


def confusion_matrix_chart(matrix, names, title):
    """A heatmap with one cell per (true, predicted) pair, labelled with its count.

    The shade is the count divided by its row total: the share of a true class that went to each
    prediction. Raw counts would make a frequent class look dark everywhere and hide the errors of a rare one.
    """
    if not names or len(matrix) != len(names) or any(len(row) != len(names) for row in matrix):
        raise ValueError(f"the matrix must be {len(names)} x {len(names)}, one row and column per name")
    grid_left, grid_top, bottom_space = 130, 40, 50
    cell = min((WIDTH - grid_left - 20) / len(names), (HEIGHT - grid_top - bottom_space) / len(names))
    body = []
    for row_index, (row, true_name) in enumerate(zip(matrix, names)):
        row_total = sum(row)
        y = grid_top + row_index * cell
        body.append(_text(grid_left - 8, y + cell / 2 + 4, true_name, anchor="end"))
        for column_index, (count, predicted_name) in enumerate(zip(row, names)):
            share = count / row_total if row_total else 0.0
            x = grid_left + column_index * cell
            hover = f"true {true_name}, predicted {predicted_name}: {count} ({share:.0%} of the row)"
            body += _heat_cell(x, y, cell, count, share, hover)
    grid_bottom = grid_top + len(names) * cell
    for column_index, predicted_name in enumerate(names):
        body.append(_text(grid_left + (column_index + 0.5) * cell, grid_bottom + 15, predicted_name,
                          anchor="middle", size=10))
    body.append(_text(grid_left + len(names) * cell / 2, grid_bottom + 35, "predicted", anchor="middle"))
    body.append(_vertical_text(14, (grid_top + grid_bottom) / 2, "true"))
    return _document(WIDTH, HEIGHT, title, body)


# --- bar chart --------------------------------------------------------------------------------------------

def bar_chart(values, title):
    """Horizontal bars from {name: value}; the axis runs from 0 to at least 1, so probabilities and F1
    scores are drawn on their full scale. Values must be finite and not negative."""
    for name, value in values.items():
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"bar_chart draws finite values >= 0, got {name}={value}")
    bars_left, bars_right, bars_top, bar_height, gap = 130, WIDTH - 50, 40, 20, 8
    ticks = nice_ticks(0, max([1.0, *values.values()]))
    to_x = _scale(ticks, bars_left, bars_right)
    bars_bottom = bars_top + len(values) * (bar_height + gap)
    height = max(bars_bottom + 30, 120)
    body = []
    for tick in ticks:
        x = to_x(tick)
        body.append(_line(x, bars_top, x, bars_bottom))
        body.append(_text(x, bars_bottom + 15, _tick_label(tick, ticks), anchor="middle", size=10))
    for index, (name, value) in enumerate(values.items()):
        y = bars_top + index * (bar_height + gap) + gap / 2
        body.append(_text(bars_left - 8, y + bar_height / 2 + 4, name, anchor="end"))
        body.append(f'<rect class="bar" x="{bars_left}" y="{_number(y)}" '
                    f'width="{_number(to_x(value) - bars_left)}" height="{bar_height}" fill="{PALETTE[0]}"/>')
        body.append(_text(to_x(value) + 4, y + bar_height / 2 + 4, f"{value:.3g}", size=10))
    return _document(WIDTH, height, title, body)


# --- training curves --------------------------------------------------------------------------------------

def _is_number(value):
    # bool is a subclass of int, but a flag such as {"resumed": true} is not a metric.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _series_name(record, key):
    """"loss", or "val loss" when the record says which split (or kind of record) it comes from, so that
    training and validation values of the same key become separate lines. A key that already names its
    split, such as "val_loss", keeps its own name."""
    prefixes = [record[tag] for tag in ("split", "kind")
                if isinstance(record.get(tag), str) and not key.startswith(record[tag])]
    return " ".join(prefixes + [key])


def training_charts(metrics_records):
    """{"loss.svg": svg, "accuracy.svg": svg, "spearman.svg": svg} from metrics.jsonl records, each with a
    "step" key.

    Every numeric key whose name contains "loss" goes into the loss chart, every one that contains
    "accuracy" into the accuracy chart (pre-training's NLI probe among them) and every one that contains
    "spearman" (pre-training's zero-shot STS signal) into the Spearman chart; a record may hold any subset of
    them. A chart with nothing to show is left out of the result.
    """
    charts = {}
    for measure in ("loss", "accuracy", "spearman"):
        series = {}
        for record in metrics_records:
            if not _is_number(record.get("step")):
                continue
            for key, value in record.items():
                if measure in key and (_is_number(value) or value is None):
                    series.setdefault(_series_name(record, key), []).append((record["step"], value))
        if series:
            charts[f"{measure}.svg"] = line_chart(series, measure, "step", measure)
    return charts


def write_svg(path, svg):
    """Write a chart so that a reader never sees half a file, even if the program stops midway."""
    atomic_write_text(path, svg)
