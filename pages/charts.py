"""Vega-Lite (Altair) charts of the pages a visitor opens first: Overview, Gene explorer, Molecules, Rank.

These pages draw with Vega-Lite rather than Plotly because a browser's first visit pays for the chart
library: Streamlit's Plotly bundle is 4.7 MB of JavaScript (about 1 s of a 2-core machine's main
thread before anything on the page is drawn), its Vega-Lite bundle 0.8 MB (``bench/browser_bench.py``).
Every chart function returns an ``alt.Chart``/``alt.LayerChart``; values are taken from the given frames
only. :func:`picked_compound` reads the compound map's click back from Streamlit's selection event.

Layers that share a frame get it once, on their ``alt.layer(..., data=frame)``, not each on its own
``alt.Chart(frame)``: Altair then moves a shared frame up to the layer itself and names each layer by
a hash of its data, for which it prints the whole frame (``DataFrame.__repr__``: ~12 ms per layer,
most of the 47 ms the Gene explorer's box plot took to build; now ~10 ms).
"""
from __future__ import annotations

import json
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from scperturb_core.constants import CELL_TYPE, SM_LINCS_ID, SM_NAME, SMILES
from scperturb_core.discovery.rank import SCORE, SCORE_LOWER, SCORE_UPPER
from scperturb_core.plot_scales import group_densities, tukey_boxes

SPLIT_COLORS = {"train": "#2a6f97", "test": "#e76f51"}
COVERAGE_COLORS = {"missing": "#e5e7eb", "train": "#2a6f97", "test": "#e76f51"}
SOURCE_COLORS = {"measured": "#2a6f97", "predicted": "#e76f51"}
ZERO_LINE = "#6b7280"


def _scale(colors: dict[str, str]) -> alt.Scale:
    return alt.Scale(domain=list(colors), range=list(colors.values()))


def split_bars(counts: pd.DataFrame) -> alt.LayerChart:
    """Grouped bars of rows per cell type and split; ``counts`` has columns cell_type, split, rows."""
    base = alt.Chart().encode(
        x=alt.X(f"{CELL_TYPE}:N", title="cell type", sort=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("split:N", sort=list(SPLIT_COLORS)),
        y=alt.Y("rows:Q", title="rows (compound x cell type pairs)"),
        color=alt.Color("split:N", scale=_scale(SPLIT_COLORS), title=None),
        tooltip=[alt.Tooltip(f"{CELL_TYPE}:N", title="cell type"), "split:N", "rows:Q"])
    return alt.layer(base.mark_bar(), base.mark_text(dy=-6).encode(text="rows:Q"), data=counts).properties(height=380)


def coverage_heatmap(coverage: pd.DataFrame) -> alt.Chart:
    """Compound x cell type grid coloured missing/train/test; ``coverage``: compounds x cell types."""
    long = coverage.rename_axis(index="compound", columns="cell type").stack().rename("status").reset_index()
    return alt.Chart(long).mark_rect().encode(
        x=alt.X("compound:N", sort=list(coverage.index),
                title=f"compound ({len(coverage.index)}; hover for details)",
                axis=alt.Axis(labelAngle=-90, labelFontSize=8, labelOverlap=False)),
        y=alt.Y("cell type:N", sort=list(coverage.columns), title="cell type"),
        color=alt.Color("status:N", scale=_scale(COVERAGE_COLORS), title=None),
        tooltip=["compound:N", "cell type:N", "status:N"],
    ).properties(height=300)


def gene_box(values: pd.DataFrame, gene: str, cell_types: Sequence[str], units: str,
             seed: int = 0) -> alt.LayerChart:
    """Tukey box per cell type with one point per compound (hover: compound, value) and a zero line.

    ``values`` has columns cell_type, value, sm_name. Boxes, medians and whiskers (1.5 IQR) come from
    :func:`scperturb_core.plot_scales.tukey_boxes`; the points' horizontal jitter is seeded, so a chart
    is drawn the same every time.
    """
    order = [c for c in cell_types if c in set(values[CELL_TYPE])]
    pos = {c: i for i, c in enumerate(order)}
    rng = np.random.default_rng(seed)
    points = values.assign(x=values[CELL_TYPE].map(pos) + rng.uniform(-0.25, 0.25, len(values)))
    boxes = tukey_boxes(values["value"], values[CELL_TYPE], order).rename(columns={"group": CELL_TYPE})
    boxes = boxes.assign(i=boxes.index, left=boxes.index - 0.32, right=boxes.index + 0.32)
    names = json.dumps(order)
    x_scale = alt.Scale(domain=[-0.5, len(order) - 0.5])
    x_axis = alt.Axis(values=list(range(len(order))), labelExpr=f"{names}[datum.value]", grid=False, labelAngle=0,
                      labelOverlap=False, labelLimit=160)

    def x(field: str) -> alt.X:
        return alt.X(f"{field}:Q", scale=x_scale, axis=x_axis, title="cell type (one point per compound)")

    y_title = f"{gene}: {units}"
    color = alt.Color(f"{CELL_TYPE}:N", sort=order, legend=None)
    box_tip = [alt.Tooltip(f"{CELL_TYPE}:N", title="cell type")] + [
        alt.Tooltip(f"{k}:Q", format=".2f") for k in ("high", "q3", "median", "q1", "low")]
    base = alt.Chart()  # the three box layers share ``boxes``, given once to their layer
    whisker = base.mark_rule(color="#374151").encode(x=x("i"), y=alt.Y("low:Q", title=y_title), y2="high:Q")
    box = base.mark_rect(opacity=0.35, stroke="#374151").encode(
        x=x("left"), x2="right:Q",
        y=alt.Y("q1:Q", title=y_title), y2="q3:Q", color=color, tooltip=box_tip)
    median = base.mark_rule(color="#111827", strokeWidth=2).encode(
        x=x("left"), x2="right:Q",
        y=alt.Y("median:Q", title=y_title), tooltip=box_tip)
    dots = alt.Chart(points).mark_circle(size=18, opacity=0.7).encode(
        x=x("x"), y=alt.Y("value:Q", title=y_title), color=color,
        tooltip=[alt.Tooltip(f"{SM_NAME}:N", title="compound"), alt.Tooltip(f"{CELL_TYPE}:N", title="cell type"),
                 alt.Tooltip("value:Q", format=".2f")])
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color=ZERO_LINE).encode(y="y:Q")
    return alt.layer(whisker, box, median, dots, zero, data=boxes).properties(height=420)  # dots, zero: own data


def density_histogram(values: pd.DataFrame, gene: str, cell_types: Sequence[str], units: str,
                      marks: Sequence[float], bins: int = 60) -> alt.LayerChart:
    """Overlaid histograms normalised per cell type (each integrates to 1), dotted rules at ``marks``.

    The bins are shared by all cell types (:func:`scperturb_core.plot_scales.group_densities`), so what
    is drawn is exactly a probability density per cell type.
    """
    sizes = values[CELL_TYPE].value_counts()
    hist = group_densities(values["value"], values[CELL_TYPE], [c for c in cell_types if c in sizes], bins=bins)
    hist["group"] = hist["group"].map(lambda c: f"{c} (n={sizes[c]})")
    order = list(dict.fromkeys(hist["group"]))
    bars = alt.Chart(hist).mark_rect(opacity=0.6).encode(
        x=alt.X("start:Q", title=f"{gene}: {units}"), x2="end:Q",
        y=alt.Y("density:Q", stack=None, title="density (each cell type sums to 1)"),
        y2=alt.datum(0),
        color=alt.Color("group:N", sort=order, title="cell type (compounds)"),
        tooltip=[alt.Tooltip("group:N", title="cell type"), alt.Tooltip("start:Q", format=".2f", title="from"),
                 alt.Tooltip("end:Q", format=".2f", title="to"), alt.Tooltip("density:Q", format=".3f")])
    rules = alt.Chart(pd.DataFrame({"x": list(marks)})).mark_rule(color=ZERO_LINE, strokeDash=[2, 3]).encode(x="x:Q")
    return (bars + rules).properties(height=340)


def value_heatmap(matrix: pd.DataFrame, limit: float, colour_title: str | list[str]) -> alt.Chart:
    """Genes (rows) x compounds (columns) heatmap in the column order given, blue (down) to red (up).

    Colours saturate at +-``limit``; the tooltip shows the unclipped value. A list title is one line per item.
    """
    long = matrix.rename_axis(index="gene", columns="compound").stack().rename("value").reset_index()
    return alt.Chart(long).mark_rect().encode(
        x=alt.X("compound:N", sort=list(matrix.columns), title="compound",
                axis=alt.Axis(labelAngle=-60, labelFontSize=10, labelOverlap=False)),
        y=alt.Y("gene:N", sort=list(matrix.index), title="gene"),
        color=alt.Color("value:Q", title=colour_title,
                        scale=alt.Scale(scheme="redblue", reverse=True, domain=[-limit, limit], clamp=True)),
        tooltip=["gene:N", "compound:N", alt.Tooltip("value:Q", format=".2f")],
    ).properties(height=max(300, 28 * len(matrix.index) + 120))


def score_bars(rows: pd.DataFrame, axis_title: str, label_cell_type: bool) -> alt.LayerChart:
    """Horizontal bars of the ranked score with its interval (a rule from lower to upper end), best on top.

    ``rows`` holds sm_name, cell_type, score, score_lower, score_upper, source, in rank order.
    """
    label = rows[SM_NAME] + ((" | " + rows[CELL_TYPE]) if label_cell_type else "")
    frame = rows[[SM_NAME, CELL_TYPE, SCORE, SCORE_LOWER, SCORE_UPPER, "source"]].assign(label=label)
    y = alt.Y("label:N", sort=label.tolist(), title=None, axis=alt.Axis(labelLimit=320))
    tooltip = [alt.Tooltip(f"{SM_NAME}:N", title="compound"), alt.Tooltip(f"{CELL_TYPE}:N", title="cell type"),
               alt.Tooltip(f"{SCORE}:Q", format=".2f"), alt.Tooltip(f"{SCORE_LOWER}:Q", format=".2f"),
               alt.Tooltip(f"{SCORE_UPPER}:Q", format=".2f"), "source:N"]
    bars = alt.Chart().mark_bar().encode(
        x=alt.X(f"{SCORE}:Q", title=axis_title), y=y,
        color=alt.Color("source:N", scale=_scale(SOURCE_COLORS), title="values"), tooltip=tooltip)
    interval = alt.Chart().mark_errorbar(ticks=True, color="#111827").encode(
        x=alt.X(f"{SCORE_LOWER}:Q", title=axis_title), x2=f"{SCORE_UPPER}:Q", y=y, tooltip=tooltip)
    return alt.layer(bars, interval, data=frame).properties(height=max(140, 26 * len(frame) + 60))


#: the compound map's click selection (a Vega-Lite point selection on the compound name)
MAP_PICK = "pick"


def compound_map(frame: pd.DataFrame, color: str | None, current: str | None) -> alt.LayerChart:
    """The 2-D compound map: one point per compound at (``x``, ``y``), coloured by ``color`` if given,
    ``current`` (a compound name) marked with a red diamond. A click selects a compound (:data:`MAP_PICK`,
    read back with :func:`picked_compound`); the tooltip shows name, LINCS id and SMILES."""
    pick = alt.selection_point(name=MAP_PICK, fields=[SM_NAME], on="click", clear="dblclick")
    tooltip = [alt.Tooltip(f"{SM_NAME}:N", title="compound"), alt.Tooltip(f"{SM_LINCS_ID}:N", title="LINCS id"),
               alt.Tooltip(f"{SMILES}:N", title="SMILES")]
    colour = (alt.Color(f"{color}:Q", scale=alt.Scale(scheme="viridis"), title=["response", color])
              if color else alt.value("#2a6f97"))
    x = alt.X("x:Q", title="UMAP 1", scale=alt.Scale(zero=False))
    y = alt.Y("y:Q", title="UMAP 2", scale=alt.Scale(zero=False))
    points = alt.Chart(frame).mark_circle(size=90, opacity=0.9, stroke="white", strokeWidth=0.5).encode(
        x=x, y=y, color=colour, tooltip=tooltip).add_params(pick)
    here = frame[frame[SM_NAME] == current] if current is not None else frame.iloc[:0]
    marker = alt.Chart(here).mark_point(shape="diamond", size=320, filled=True, color="red", stroke="black",
                                        strokeWidth=1).encode(x=x, y=y, tooltip=tooltip)
    return (points + marker).properties(height=520)


def picked_compound(event) -> str | None:
    """The compound name a click on :func:`compound_map` selected, from Streamlit's selection event
    (``{"selection": {"pick": [{"sm_name": ...}]}}``); None when nothing is selected."""
    selection = event.get("selection") if isinstance(event, dict) else None  # Streamlit's events are dicts
    picked = selection.get(MAP_PICK) if isinstance(selection, dict) else None
    if isinstance(picked, dict):  # {"sm_name": [name, ...]}
        names = picked.get(SM_NAME) or []
        return str(names[0]) if names else None
    if isinstance(picked, (list, tuple)) and picked and isinstance(picked[0], dict):  # [{"sm_name": name}, ...]
        name = picked[0].get(SM_NAME)
        return str(name) if name else None
    return None
