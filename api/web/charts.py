"""Server-side charts of the officer pages: data in, SVG text out.

Every function here is pure: it takes numbers and labels and returns the text of one
``<svg>`` element, ready to be placed inline in a page (no script, no external file, no
inline ``style`` attribute, so a strict Content-Security-Policy holds; colours come from
CSS classes in ``static/officer.css`` with presentation-attribute fallbacks). Every piece
of text (labels, titles, descriptions) is XML-escaped here, so a hostile seller id or
feature name cannot inject markup. Each chart carries ``<title>`` and ``<desc>`` and is
labelled by them (``role="img"``), and the description lists the plotted values so a
screen-reader user gets the same numbers as the picture.

Geometry is kept in one :class:`LinearScale` per axis so tests can check the bars: a bar
of value ``v`` on a scale is ``scale.length(v)`` pixels long, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape as _xml_escape

__all__ = [
    "LinearScale",
    "WaterfallStep",
    "nice_ticks",
    "waterfall_svg",
    "bar_chart_svg",
    "line_chart_svg",
    "share_bars_svg",
    "Series",
    "SERIES_COLOURS",
    "multi_line_chart_svg",
    "escape_text",
]

Formatter = Callable[[float], str]

# Fonts and sizes in user units; the SVG scales with its container (viewBox).
_FONT = 12
_ROW = 26
_BAR = 16


def escape_text(text: object) -> str:
    """XML-escape any value for element text or a double-quoted attribute."""
    return _xml_escape(str(text), {'"': "&quot;", "'": "&#x27;"})


def _number(value: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros (stable text for tests)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _plain(value: float) -> str:
    """Default value formatter: thousands separators, no decimals past what is needed."""
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _signed(value: float) -> str:
    """A contribution with its sign, one decimal; tiny ones are ``0.0``, not ``-0.0``."""
    return "0.0" if abs(value) < 0.05 else f"{value:+.1f}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]``: steps of 1, 2 or 5 times a power of 10.

    The first tick is at or below ``low`` and the last at or above ``high``, so an axis
    drawn from the first to the last tick contains every value.

    Parameters
    ----------
    low, high : the range to cover (swapped when given in the wrong order).
    count : about how many intervals to aim for (at least 1).

    Returns
    -------
    list of float
        At least two ticks, increasing.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"tick range must be finite; got {low!r} to {high!r}")
    if low > high:
        low, high = high, low
    if low == high:
        # A flat series still needs an axis: widen it around the value, or upwards from
        # zero (a series of zeros is counts, amounts or rates: nothing is negative).
        if low == 0:
            high = 1.0
        else:
            spread = abs(low) * 0.1
            low, high = low - spread, high + spread
    raw_step = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    n = int(round((last - first) / step))
    # Rounding to the step's decimals keeps 0.1 + 0.2 style noise out of the labels.
    decimals = max(0, -math.floor(math.log10(step)) + 1)
    return [round(first + k * step, decimals) for k in range(n + 1)]


@dataclass(frozen=True)
class LinearScale:
    """Maps data values in ``[domain_low, domain_high]`` to pixels in
    ``[range_start, range_end]`` (``range_end`` may be smaller, e.g. a y axis going up).
    """

    domain_low: float
    domain_high: float
    range_start: float
    range_end: float

    def __post_init__(self) -> None:
        if not self.domain_high > self.domain_low:
            raise ValueError("domain_high must be > domain_low; got "
                             f"{self.domain_low} to {self.domain_high}")

    @property
    def pixels_per_unit(self) -> float:
        """Signed pixels for one unit of data."""
        return (self.range_end - self.range_start) / (self.domain_high - self.domain_low)

    def __call__(self, value: float) -> float:
        """The pixel position of ``value``."""
        return self.range_start + (value - self.domain_low) * self.pixels_per_unit

    def length(self, amount: float) -> float:
        """Unsigned pixel length of an amount (a bar of that value)."""
        return abs(amount * self.pixels_per_unit)


def _open_svg(chart_id: str, width: float, height: float, title: str, description: str,
              css_class: str) -> list[str]:
    ident = escape_text(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {escape_text(css_class)}" '
        f'id="{ident}" viewBox="0 0 {_number(width)} {_number(height)}" '
        f'width="{_number(width)}" height="{_number(height)}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" font-size="{_FONT}">',
        f'<title id="{ident}-title">{escape_text(title)}</title>',
        f'<desc id="{ident}-desc">{escape_text(description)}</desc>',
    ]


def _text(x: float, y: float, text: str, *, anchor: str = "start", css: str = "label",
          baseline: str = "middle") -> str:
    return (f'<text class="{css}" x="{_number(x)}" y="{_number(y)}" '
            f'text-anchor="{anchor}" dominant-baseline="{baseline}">{escape_text(text)}'
            "</text>")


def _y_label(text: str, top: float, bottom: float) -> str:
    """The y axis's title, turned to read upwards along the axis."""
    middle = _number((top + bottom) / 2)
    return (f'<text class="axis-label" x="14" y="{middle}" text-anchor="middle" '
            f'dominant-baseline="middle" transform="rotate(-90 14 {middle})">'
            f"{escape_text(text)}</text>")


def _empty_chart(chart_id: str, title: str, message: str, css_class: str,
                 width: float) -> str:
    parts = _open_svg(chart_id, width, 60, title, message, css_class)
    parts.append(_text(width / 2, 30, message, anchor="middle", css="empty"))
    parts.append("</svg>")
    return "\n".join(parts)


def _check_finite(values: Sequence[float], what: str) -> None:
    for value in values:
        if not math.isfinite(value):
            raise ValueError(f"{what} must be finite numbers; got {value!r}")


# --------------------------------------------------------------------------- waterfall


@dataclass(frozen=True)
class WaterfallStep:
    """One bar of a waterfall: a reason family's (or feature's) effect in points."""

    label: str
    points: float


def waterfall_svg(baseline: float, steps: Sequence[WaterfallStep], *, chart_id: str,
                  title: str = "How the score was built",
                  final_label: str = "Score", baseline_label: str = "Baseline",
                  width: float = 720, label_width: float = 210,
                  value_format: Formatter | None = None) -> str:
    """A horizontal SHAP waterfall: baseline, each contribution, the final score.

    Rows from top to bottom: the baseline (the model's average score), one bar per step
    starting where the previous one ended (right and green when it raised the score,
    left and red when it lowered it), then the final score, which is
    ``baseline + sum(step.points)``. The x axis spans every running total with round
    ticks; it does not start at zero, because points are only meaningful as differences,
    and the axis says so by its tick labels.

    Parameters
    ----------
    baseline : points of the model's expected raw score.
    steps : contributions in the order to draw them (callers sort by size).
    chart_id : unique id of the chart in its page (ids of title/desc derive from it).
    value_format : how a contribution is written next to its bar.

    Returns
    -------
    str
        One ``<svg>`` element.
    """
    _check_finite([baseline, *(s.points for s in steps)], "waterfall values")
    value_format = value_format or _signed
    totals = [baseline]
    for step in steps:
        totals.append(totals[-1] + step.points)
    final = totals[-1]
    ticks = nice_ticks(min(totals), max(totals), 5)
    plot_left, plot_right = label_width, width - 70
    scale = LinearScale(ticks[0], ticks[-1], plot_left, plot_right)
    top = 10
    rows = len(steps) + 2
    axis_y = top + rows * _ROW + 4
    height = axis_y + 40
    description = (f"{baseline_label} {baseline:.1f} points; "
                   + "; ".join(f"{s.label} {value_format(s.points)}" for s in steps)
                   + f"; {final_label} {final:.1f} points.")
    parts = _open_svg(chart_id, width, height, title, description, "waterfall")

    # Grid and axis first, so bars are drawn over them.
    for tick in ticks:
        x = scale(tick)
        parts.append(f'<line class="grid" x1="{_number(x)}" y1="{top}" x2="{_number(x)}" '
                     f'y2="{_number(axis_y)}" stroke="#ddd"/>')
        parts.append(_text(x, axis_y + 12, _plain(tick), anchor="middle", css="tick"))
    parts.append(f'<line class="axis" x1="{_number(plot_left)}" y1="{_number(axis_y)}" '
                 f'x2="{_number(plot_right)}" y2="{_number(axis_y)}" stroke="#333"/>')
    parts.append(_text((plot_left + plot_right) / 2, axis_y + 30, "Score (points)",
                       anchor="middle", css="axis-label"))

    def row_middle(row: int) -> float:
        return top + row * _ROW + _ROW / 2

    def total_row(row: int, label: str, value: float, css: str) -> None:
        y = row_middle(row)
        x = scale(value)
        parts.append(f'<g class="total {css}" data-value="{_number(value)}">')
        parts.append(_text(plot_left - 8, y, label, anchor="end"))
        parts.append(f'<line class="marker" x1="{_number(x)}" y1="{_number(y - _BAR / 2)}" '
                     f'x2="{_number(x)}" y2="{_number(y + _BAR / 2)}" stroke="#333" '
                     'stroke-width="3"/>')
        parts.append(_text(x + 6, y, f"{value:.1f}", css="value"))
        parts.append("</g>")

    total_row(0, baseline_label, baseline, "baseline")
    for k, step in enumerate(steps):
        start, end = totals[k], totals[k + 1]
        y = row_middle(k + 1)
        left = scale(min(start, end))
        direction = "up" if step.points >= 0 else "down"
        colour = "#2e7d32" if direction == "up" else "#c62828"
        parts.append(f'<g class="step {direction}" data-points="{_number(step.points)}">')
        parts.append(_text(plot_left - 8, y, step.label, anchor="end"))
        parts.append(f'<rect class="bar" x="{_number(left)}" y="{_number(y - _BAR / 2)}" '
                     f'width="{_number(scale.length(step.points))}" height="{_BAR}" '
                     f'fill="{colour}"/>')
        # The value sits beyond the bar's far end, on the side the bar grows towards.
        if direction == "up":
            parts.append(_text(scale(end) + 4, y, value_format(step.points), css="value"))
        else:
            parts.append(_text(scale(end) - 4, y, value_format(step.points), anchor="end",
                               css="value"))
        # Connector from this bar's end to the next row, as in SHAP's waterfall.
        parts.append(f'<line class="connector" x1="{_number(scale(end))}" '
                     f'y1="{_number(y + _BAR / 2)}" x2="{_number(scale(end))}" '
                     f'y2="{_number(y + _ROW - _BAR / 2)}" stroke="#999"/>')
        parts.append("</g>")
    total_row(len(steps) + 1, final_label, final, "final")
    parts.append("</svg>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- columns


def bar_chart_svg(points: Sequence[tuple[str, float]], *, chart_id: str, title: str,
                  y_label: str, value_format: Formatter = _plain, width: float = 720,
                  height: float = 240, empty_message: str = "No data yet.") -> str:
    """Vertical bars, one per labelled value (months of GMV, draws by date).

    The y axis starts at zero (or below, for negative values) so bar heights compare
    truthfully. Category labels are thinned to about twelve so they never overlap.
    """
    if not points:
        return _empty_chart(chart_id, title, empty_message, "bars", width)
    values = [float(v) for _, v in points]
    _check_finite(values, "bar values")
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values), 4)
    left, right, top, bottom = 70.0, width - 10, 10.0, height - 45
    y = LinearScale(ticks[0], ticks[-1], bottom, top)
    slot = (right - left) / len(points)
    bar_width = max(1.0, slot * 0.7)
    description = f"{y_label}: " + "; ".join(f"{label} {value_format(v)}"
                                             for (label, _), v in zip(points, values,
                                                                      strict=True))
    parts = _open_svg(chart_id, width, height, title, description, "bars")
    parts.extend(_y_axis(ticks, y, left, right, value_format))
    parts.append(_y_label(y_label, top, bottom))
    label_every = max(1, math.ceil(len(points) / 12))
    zero = y(0.0)
    for k, ((label, _), value) in enumerate(zip(points, values, strict=True)):
        x = left + k * slot + (slot - bar_width) / 2
        top_edge = min(y(value), zero)
        parts.append(f'<rect class="bar" x="{_number(x)}" y="{_number(top_edge)}" '
                     f'width="{_number(bar_width)}" height="{_number(y.length(value))}" '
                     f'fill="#1565c0" data-value="{_number(value)}">'
                     f'<title>{escape_text(label)}: {escape_text(value_format(value))}'
                     "</title></rect>")
        if k % label_every == 0:
            parts.append(_text(x + bar_width / 2, bottom + 14, label, anchor="middle",
                               css="tick"))
    parts.append("</svg>")
    return "\n".join(parts)


def _y_axis(ticks: Sequence[float], y: LinearScale, left: float, right: float,
            value_format: Formatter) -> list[str]:
    parts = []
    for tick in ticks:
        py = y(tick)
        parts.append(f'<line class="grid" x1="{_number(left)}" y1="{_number(py)}" '
                     f'x2="{_number(right)}" y2="{_number(py)}" stroke="#ddd"/>')
        parts.append(_text(left - 6, py, value_format(tick), anchor="end", css="tick"))
    parts.append(f'<line class="axis" x1="{_number(left)}" y1="{_number(y(ticks[0]))}" '
                 f'x2="{_number(left)}" y2="{_number(y(ticks[-1]))}" stroke="#333"/>')
    base = y(0.0) if ticks[0] <= 0 <= ticks[-1] else y(ticks[0])
    parts.append(f'<line class="axis" x1="{_number(left)}" y1="{_number(base)}" '
                 f'x2="{_number(right)}" y2="{_number(base)}" stroke="#333"/>')
    return parts


# --------------------------------------------------------------------------- lines


def line_chart_svg(points: Sequence[tuple[str, float | None]], *, chart_id: str, title: str,
                   y_label: str, value_format: Formatter = _plain, width: float = 720,
                   height: float = 220, y_min: float | None = 0.0,
                   empty_message: str = "No data yet.") -> str:
    """A line over labelled points (refund rate by month, days past due by date).

    ``None`` values (a month without orders has no refund rate) break the line instead of
    being drawn as zero. ``y_min`` fixes the bottom of the axis (``None``: from the data).
    """
    known = [float(v) for _, v in points if v is not None]
    if not known:
        return _empty_chart(chart_id, title, empty_message, "line", width)
    _check_finite(known, "line values")
    low = min(known) if y_min is None else min(y_min, *known)
    ticks = nice_ticks(low, max(known), 4)
    left, right, top, bottom = 70.0, width - 10, 10.0, height - 45
    y = LinearScale(ticks[0], ticks[-1], bottom, top)
    slot = (right - left) / len(points)
    description = f"{y_label}: " + "; ".join(
        f"{label} {'no data' if v is None else value_format(float(v))}" for label, v in points)
    parts = _open_svg(chart_id, width, height, title, description, "line")
    parts.extend(_y_axis(ticks, y, left, right, value_format))
    parts.append(_y_label(y_label, top, bottom))
    label_every = max(1, math.ceil(len(points) / 12))
    segments: list[list[tuple[float, float]]] = [[]]
    dots = []
    for k, (label, value) in enumerate(points):
        x = left + k * slot + slot / 2
        if k % label_every == 0:
            parts.append(_text(x, bottom + 14, label, anchor="middle", css="tick"))
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append((x, y(float(value))))
        dots.append(f'<circle class="dot" cx="{_number(x)}" cy="{_number(y(float(value)))}" '
                    f'r="3" fill="#6a1b9a" data-value="{_number(float(value))}">'
                    f"<title>{escape_text(label)}: {escape_text(value_format(float(value)))}"
                    "</title></circle>")
    for segment in segments:
        if len(segment) > 1:
            coordinates = " ".join(f"{_number(px)},{_number(py)}" for px, py in segment)
            parts.append(f'<polyline class="series" points="{coordinates}" fill="none" '
                         'stroke="#6a1b9a" stroke-width="2"/>')
    parts.extend(dots)
    parts.append("</svg>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- shares


def share_bars_svg(shares: Sequence[tuple[str, float]], *, chart_id: str, title: str,
                   width: float = 720, label_width: float = 170,
                   empty_message: str = "No buyers yet.") -> str:
    """Horizontal bars of shares on a fixed 0-100 % axis (buyer concentration).

    Shares are fractions (0.42 is 42 %); the axis always spans 0 to 100 % so two sellers'
    charts compare at a glance.
    """
    if not shares:
        return _empty_chart(chart_id, title, empty_message, "shares", width)
    values = [float(v) for _, v in shares]
    _check_finite(values, "shares")
    for value in values:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"shares must be between 0 and 1; got {value!r}")
    plot_left, plot_right = label_width, width - 60
    x = LinearScale(0.0, 1.0, plot_left, plot_right)
    top = 10
    axis_y = top + len(shares) * _ROW + 4
    height = axis_y + 40
    description = "; ".join(f"{label} {v:.1%}" for (label, _), v in zip(shares, values,
                                                                       strict=True))
    parts = _open_svg(chart_id, width, height, title, description, "shares")
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        px = x(tick)
        parts.append(f'<line class="grid" x1="{_number(px)}" y1="{top}" x2="{_number(px)}" '
                     f'y2="{_number(axis_y)}" stroke="#ddd"/>')
        parts.append(_text(px, axis_y + 12, f"{tick:.0%}", anchor="middle", css="tick"))
    parts.append(f'<line class="axis" x1="{_number(plot_left)}" y1="{_number(axis_y)}" '
                 f'x2="{_number(plot_right)}" y2="{_number(axis_y)}" stroke="#333"/>')
    parts.append(_text((plot_left + plot_right) / 2, axis_y + 30, "Share of sales",
                       anchor="middle", css="axis-label"))
    for k, ((label, _), value) in enumerate(zip(shares, values, strict=True)):
        y = top + k * _ROW + _ROW / 2
        parts.append(_text(plot_left - 8, y, label, anchor="end"))
        parts.append(f'<rect class="bar" x="{_number(plot_left)}" y="{_number(y - _BAR / 2)}" '
                     f'width="{_number(x.length(value))}" height="{_BAR}" fill="#00838f" '
                     f'data-value="{_number(value)}"/>')
        parts.append(_text(x(value) + 4, y, f"{value:.1%}", css="value"))
    parts.append("</svg>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- series


@dataclass(frozen=True)
class Series:
    """One named line of a :func:`multi_line_chart_svg`: a value (or ``None``) per x label."""

    name: str
    values: Sequence[float | None]


#: Colours of the series, in order (they repeat after the last one).
SERIES_COLOURS: tuple[str, ...] = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00",
                                   "#00838f", "#5d4037", "#ad1457", "#827717", "#37474f")


def multi_line_chart_svg(x_labels: Sequence[str], series: Sequence[Series], *,
                         chart_id: str, title: str, y_label: str, x_label: str = "",
                         value_format: Formatter = _plain, width: float = 720,
                         height: float = 260, y_min: float | None = 0.0,
                         empty_message: str = "No data yet.") -> str:
    """Several lines over the same labelled x positions, with a legend (vintage curves:
    one line per vintage over months on book; score distributions: reference and current).

    A ``None`` value breaks its line. Each series is a ``<g class="series-N">`` holding its
    polyline and dots, whose ``<title>`` names the series, the x label and the value.
    """
    for item in series:
        if len(item.values) != len(x_labels):
            raise ValueError(f"series {item.name!r} has {len(item.values)} values for "
                             f"{len(x_labels)} x labels")
    known = [float(v) for item in series for v in item.values if v is not None]
    if not x_labels or not known:
        return _empty_chart(chart_id, title, empty_message, "lines", width)
    _check_finite(known, "line values")
    low = min(known) if y_min is None else min(y_min, *known)
    ticks = nice_ticks(low, max(known), 4)
    legend_rows = math.ceil(len(series) / 4)
    left, right, top = 70.0, width - 10, 10.0
    bottom = height - 45 - (14 if x_label else 0)
    height_total = height + legend_rows * 18
    y = LinearScale(ticks[0], ticks[-1], bottom, top)
    slot = (right - left) / len(x_labels)
    description = f"{y_label} by {x_label or 'position'}: " + "; ".join(
        f"{item.name}: " + ", ".join(
            f"{label} {'no data' if v is None else value_format(float(v))}"
            for label, v in zip(x_labels, item.values, strict=True) if v is not None)
        for item in series)
    parts = _open_svg(chart_id, width, height_total, title, description, "lines")
    parts.extend(_y_axis(ticks, y, left, right, value_format))
    parts.append(_y_label(y_label, top, bottom))
    # Thin the labels so the longest fits its share of the axis (about 7 units a letter).
    widest = max(len(label) for label in x_labels) * 7 + 8
    label_every = max(1, math.ceil(len(x_labels) / 12), math.ceil(widest / slot))
    for k, label in enumerate(x_labels):
        if k % label_every == 0:
            parts.append(_text(left + k * slot + slot / 2, bottom + 14, label,
                               anchor="middle", css="tick"))
    if x_label:
        parts.append(_text((left + right) / 2, bottom + 32, x_label, anchor="middle",
                           css="axis-label"))
    for number, item in enumerate(series):
        colour = SERIES_COLOURS[number % len(SERIES_COLOURS)]
        parts.append(f'<g class="series series-{number}" data-name="{escape_text(item.name)}">')
        segments: list[list[tuple[float, float]]] = [[]]
        dots = []
        for k, (label, value) in enumerate(zip(x_labels, item.values, strict=True)):
            if value is None:
                if segments[-1]:
                    segments.append([])
                continue
            px, py = left + k * slot + slot / 2, y(float(value))
            segments[-1].append((px, py))
            dots.append(f'<circle class="dot" cx="{_number(px)}" cy="{_number(py)}" r="2.5" '
                        f'fill="{colour}" data-value="{_number(float(value))}"><title>'
                        f"{escape_text(item.name)}, {escape_text(label)}: "
                        f"{escape_text(value_format(float(value)))}</title></circle>")
        for segment in segments:
            if len(segment) > 1:
                coordinates = " ".join(f"{_number(px)},{_number(py)}" for px, py in segment)
                parts.append(f'<polyline points="{coordinates}" fill="none" '
                             f'stroke="{colour}" stroke-width="2"/>')
        parts.extend(dots)
        parts.append("</g>")
    legend_top = height + 4
    column = (right - left) / 4
    for number, item in enumerate(series):
        colour = SERIES_COLOURS[number % len(SERIES_COLOURS)]
        lx = left + (number % 4) * column
        ly = legend_top + (number // 4) * 18
        parts.append(f'<rect class="key" x="{_number(lx)}" y="{_number(ly - 5)}" width="14" '
                     f'height="10" fill="{colour}"/>')
        parts.append(_text(lx + 20, ly, item.name, css="label"))
    parts.append("</svg>")
    return "\n".join(parts)
