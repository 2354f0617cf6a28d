"""The officer pages' SVG charts: correct geometry, labelled axes, escaped text."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from api.web.charts import (
    LinearScale,
    WaterfallStep,
    bar_chart_svg,
    line_chart_svg,
    nice_ticks,
    share_bars_svg,
    waterfall_svg,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    """The chart as an XML tree (fails on any unescaped text)."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element, css: str) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == css]


def accessible_name(root: ET.Element) -> tuple[str, str]:
    """The chart's title and description, found through ``aria-labelledby``."""
    title_id, desc_id = root.get("aria-labelledby", "").split()
    by_id = {e.get("id"): e.text for e in root.iter() if e.get("id")}
    assert root.get("role") == "img"
    return by_id[title_id] or "", by_id[desc_id] or ""


# ------------------------------------------------------------------------- ticks


@pytest.mark.parametrize(("low", "high", "expected"), [
    (0, 100, [0, 20, 40, 60, 80, 100]),
    (583.2, 640.1, [580, 600, 620, 640, 660]),
    (0, 0.137, [0, 0.05, 0.1, 0.15]),
    (-12, 30, [-20, -10, 0, 10, 20, 30]),
])
def test_ticks_are_round_steps_that_cover_the_range(low: float, high: float,
                                                    expected: list[float]) -> None:
    ticks = nice_ticks(low, high)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= low and ticks[-1] >= high


def test_a_flat_series_still_gets_an_axis_around_its_value() -> None:
    ticks = nice_ticks(50, 50)
    assert ticks[0] < 50 < ticks[-1]
    # Zeros (no refunds at all) get an axis from zero up, never below.
    assert nice_ticks(0, 0)[0] == 0 and nice_ticks(0, 0)[-1] == 1


def test_ticks_refuse_infinite_ranges() -> None:
    with pytest.raises(ValueError, match="finite"):
        nice_ticks(0, math.inf)


def test_a_scale_maps_the_domain_ends_to_the_range_ends() -> None:
    scale = LinearScale(500, 700, 100, 500)
    assert scale(500) == 100 and scale(700) == 500 and scale(600) == 300
    assert scale.length(-25) == pytest.approx(50)
    with pytest.raises(ValueError, match="domain_high must be > domain_low"):
        LinearScale(1, 1, 0, 10)


# ------------------------------------------------------------------------- waterfall


def waterfall_geometry(root: ET.Element) -> tuple[LinearScale, list[ET.Element]]:
    """The x scale, recovered from the tick labels and grid lines, and the step groups."""
    ticks = [(float(t.get("x", "nan")), float((t.text or "").replace(",", "")))
             for t in root.iter(f"{SVG}text") if t.get("class") == "tick"]
    (x0, v0), (x1, v1) = ticks[0], ticks[-1]
    scale = LinearScale(v0, v1, x0, x1)
    steps = [g for g in root.iter(f"{SVG}g") if "step" in (g.get("class") or "").split()]
    return scale, steps


def test_waterfall_bars_run_from_the_baseline_through_each_contribution_to_the_score(
        ) -> None:
    steps = [WaterfallStep("Order quality", -23.4), WaterfallStep("Trading scale", 12.0),
             WaterfallStep("Customer base", -4.6)]
    root = parse(waterfall_svg(590.0, steps, chart_id="wf"))
    scale, groups = waterfall_geometry(root)
    assert len(groups) == 3
    running = 590.0
    for step, group in zip(steps, groups, strict=True):
        rect = group.find(f"{SVG}rect")
        assert rect is not None
        left, width = float(rect.get("x", "nan")), float(rect.get("width", "nan"))
        end = running + step.points
        # Each bar starts where the previous one ended and is as long as its points.
        assert left == pytest.approx(scale(min(running, end)), abs=0.01)
        assert width == pytest.approx(scale.length(step.points), abs=0.01)
        assert group.get("class") == ("step up" if step.points > 0 else "step down")
        running = end
    totals = {g.get("class"): float(g.get("data-value", "nan")) for g in root.iter(f"{SVG}g")
              if (g.get("class") or "").startswith("total")}
    assert totals == {"total baseline": 590.0, "total final": pytest.approx(574.0)}
    assert "574.0" in texts(root, "value")
    # The labels of the rows, in order.
    assert texts(root, "label") == ["Baseline", "Order quality", "Trading scale",
                                    "Customer base", "Score"]
    assert texts(root, "axis-label") == ["Score (points)"]


def test_waterfall_axis_spans_every_running_total() -> None:
    root = parse(waterfall_svg(600, [WaterfallStep("a", 45), WaterfallStep("b", -80)],
                               chart_id="wf"))
    ticks = [float(t.replace(",", "")) for t in texts(root, "tick")]
    assert ticks[0] <= 565 and ticks[-1] >= 645


def test_waterfall_describes_every_value_for_screen_readers() -> None:
    root = parse(waterfall_svg(600, [WaterfallStep("Order quality", -20)], chart_id="wf",
                               title="Score breakdown"))
    title, description = accessible_name(root)
    assert title == "Score breakdown"
    assert description == "Baseline 600.0 points; Order quality -20.0; Score 580.0 points."


def test_chart_text_is_escaped_so_a_hostile_label_cannot_inject_markup() -> None:
    hostile = '<script>alert(1)</script>"&'
    svg = waterfall_svg(600, [WaterfallStep(hostile, 5)], chart_id='x"><script>',
                        title=hostile)
    assert "<script>" not in svg
    root = parse(svg)
    assert hostile in texts(root, "label")
    assert accessible_name(root)[0] == hostile
    for chart in (bar_chart_svg([(hostile, 1.0)], chart_id="b", title=hostile, y_label=hostile),
                  line_chart_svg([(hostile, 1.0)], chart_id="l", title=hostile,
                                 y_label=hostile),
                  share_bars_svg([(hostile, 0.5)], chart_id="s", title=hostile)):
        assert "<script>" not in chart
        parse(chart)


def test_waterfall_refuses_values_that_cannot_be_drawn() -> None:
    with pytest.raises(ValueError, match="finite"):
        waterfall_svg(600, [WaterfallStep("a", math.nan)], chart_id="wf")


# ------------------------------------------------------------------------- bars


def test_monthly_bars_start_at_zero_and_are_as_tall_as_their_values() -> None:
    months = [("2026-01", 1000.0), ("2026-02", 2500.0), ("2026-03", 0.0)]
    root = parse(bar_chart_svg(months, chart_id="gmv", title="GMV", y_label="CNY"))
    ticks = [(float(t.get("y", "nan")), float((t.text or "").replace(",", "")))
             for t in root.iter(f"{SVG}text") if t.get("class") == "tick"
             and t.get("text-anchor") == "end"]
    (y0, v0), (y1, v1) = ticks[0], ticks[-1]
    assert v0 == 0 and v1 >= 2500
    scale = LinearScale(v0, v1, y0, y1)
    bars = list(root.iter(f"{SVG}rect"))
    assert len(bars) == 3
    for (_, value), bar in zip(months, bars, strict=True):
        assert float(bar.get("height", "nan")) == pytest.approx(scale.length(value), abs=0.01)
        # Every bar stands on the zero line.
        bottom = float(bar.get("y", "nan")) + float(bar.get("height", "nan"))
        assert bottom == pytest.approx(scale(0), abs=0.01)
    # Equal slots: bars do not overlap and are in the given order.
    xs = [float(b.get("x", "nan")) for b in bars]
    assert xs == sorted(xs)
    assert [t for t in texts(root, "tick") if t.startswith("2026")] == ["2026-01", "2026-02",
                                                                       "2026-03"]
    assert accessible_name(root)[1] == "CNY: 2026-01 1,000; 2026-02 2,500; 2026-03 0"
    # The y axis's title reads upwards beside the axis, clear of the tick labels.
    (y_title,) = [t for t in root.iter(f"{SVG}text") if t.get("class") == "axis-label"]
    assert y_title.text == "CNY" and (y_title.get("transform") or "").startswith("rotate(-90")


def test_many_months_get_thinned_labels_but_every_bar() -> None:
    months = [(f"m{k:02d}", float(k)) for k in range(36)]
    root = parse(bar_chart_svg(months, chart_id="g", title="t", y_label="y"))
    assert len(list(root.iter(f"{SVG}rect"))) == 36
    assert len([t for t in texts(root, "tick") if t.startswith("m")]) == 12


def test_a_chart_without_data_says_so() -> None:
    root = parse(bar_chart_svg([], chart_id="g", title="GMV", y_label="CNY",
                               empty_message="No orders yet."))
    assert texts(root, "empty") == ["No orders yet."]
    assert accessible_name(root) == ("GMV", "No orders yet.")


# ------------------------------------------------------------------------- line


def test_a_month_without_sales_breaks_the_refund_line_instead_of_dropping_to_zero() -> None:
    points: list[tuple[str, float | None]] = [("Jan", 0.1), ("Feb", 0.05), ("Mar", None),
                                              ("Apr", 0.02), ("May", 0.04)]
    root = parse(line_chart_svg(points, chart_id="r", title="Refunds", y_label="Refund rate",
                                value_format=lambda v: f"{v:.0%}"))
    lines = list(root.iter(f"{SVG}polyline"))
    assert [len((p.get("points") or "").split()) for p in lines] == [2, 2]
    dots = [float(c.get("data-value", "nan")) for c in root.iter(f"{SVG}circle")]
    assert dots == [0.1, 0.05, 0.02, 0.04]
    assert "Mar no data" in accessible_name(root)[1]
    # Higher values sit higher on the page (smaller y).
    ys = [float(c.get("cy", "nan")) for c in root.iter(f"{SVG}circle")]
    assert ys[0] < ys[1] < ys[3] < ys[2]


# ------------------------------------------------------------------------- shares


def test_buyer_shares_are_drawn_on_a_fixed_zero_to_hundred_percent_axis() -> None:
    root = parse(share_bars_svg([("Top buyer", 0.5), ("Top 3 buyers", 0.8)], chart_id="s",
                                title="Buyer concentration"))
    assert [t for t in texts(root, "tick")] == ["0%", "25%", "50%", "75%", "100%"]
    bars = list(root.iter(f"{SVG}rect"))
    widths = [float(b.get("width", "nan")) for b in bars]
    assert widths[1] / widths[0] == pytest.approx(0.8 / 0.5)
    assert texts(root, "value") == ["50.0%", "80.0%"]
    with pytest.raises(ValueError, match="between 0 and 1"):
        share_bars_svg([("x", 1.5)], chart_id="s", title="t")
