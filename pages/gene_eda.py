"""Gene explorer: one gene across cell types and compounds, its strongest compounds, a genes x
compounds heatmap, and what the values mean."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from pages.common import Keys, require_data, simulated_badge
from scperturb_core.constants import CELL_TYPE, DEFAULT_GENE, SM_NAME
from scperturb_core.genes import (
    SIGNIFICANT, gene_heatmap, gene_summary, gene_values, parse_gene_list, top_compounds, validate_genes,
)
from scperturb_core.plot_scales import CLIP_QUANTILE, robust_limit, top_columns

MEAN_OVER_CELL_TYPES = "mean over cell types"
HEATMAP_MAX_GENES = 60
#: compounds labelled on the heatmap (the strongest by mean |value| over the chosen genes)
HEATMAP_COMPOUNDS = 40
UNITS = "signed -log10 p"


def _use_gene(key: str, value: str) -> None:
    st.session_state[key] = value


def _gene_input(data) -> str | None:
    """The gene text box; unknown names get an error and one-click suggestions."""
    if Keys.GENE not in st.session_state:
        st.session_state[Keys.GENE] = DEFAULT_GENE if DEFAULT_GENE in data.gene_to_idx else data.genes[0]
    text = st.text_input("Gene", key=Keys.GENE, help="Any of the dataset's genes; case does not matter.")
    match = validate_genes(text, data.genes)
    if match.unknown:
        st.error(match.message(), icon=":material/error:")
        close = match.suggestions.get(match.unknown[0]) or []
        cols = st.columns(max(len(close), 1))
        for col, name in zip(cols, close):
            col.button(f"Use {name}", key=f"eda_use_{name}", on_click=_use_gene, args=(Keys.GENE, name))
        return None
    if not match.matched:
        st.info("Type a gene name, e.g. CD69.")
        return None
    if len(match.matched) > 1:
        st.caption(f"Showing the first gene, {match.matched[0]}; use the heatmap below for several genes.")
    return match.matched[0]


st.title("Gene explorer")
data = require_data()
simulated_badge(data)
st.caption("Values are signed -log10(p) of differential expression vs DMSO: the sign is the direction of the "
           "change (+ up, - down), the size its significance. Only measured (training) rows are shown here.")

gene = _gene_input(data)
if gene is not None:
    try:
        values = gene_values(data, gene)
        summary = gene_summary(data, gene)
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()

    st.subheader(f"{gene} by cell type")
    fig = px.box(values, x=CELL_TYPE, y="value", points="all", color=CELL_TYPE, hover_name=SM_NAME,
                 hover_data={"value": ":.2f", CELL_TYPE: False}, category_orders={CELL_TYPE: data.cell_types})
    fig.add_hline(y=0, line_color="#6b7280", line_width=1)
    fig.update_layout(showlegend=False, height=420, margin=dict(t=10), xaxis_title="cell type (one point per compound)",
                      yaxis_title=f"{gene}: {UNITS}")
    st.plotly_chart(fig, width="stretch")
    st.dataframe(summary, width="stretch", hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.2f")
                                for c in ("mean", "median", "std", "min", "max")})

    st.subheader("Strongest compounds per cell type")
    n = st.number_input("Compounds per direction", min_value=1, max_value=20, value=5, key=Keys.EDA_TOP_N)
    top = top_compounds(data, gene, n=int(n))
    up_col, down_col = st.columns(2)
    up_col.markdown(f"**Up-regulating {gene}**")
    up_col.dataframe(top[top["direction"] == "up"].drop(columns="direction"), hide_index=True, width="stretch")
    down_col.markdown(f"**Down-regulating {gene}**")
    down_col.dataframe(top[top["direction"] == "down"].drop(columns="direction"), hide_index=True, width="stretch")

    st.subheader("Value distribution")
    sizes = values[CELL_TYPE].value_counts()
    labelled = values.assign(**{CELL_TYPE: values[CELL_TYPE].map(lambda c: f"{c} (n={sizes[c]})")})
    hist = px.histogram(labelled, x="value", color=CELL_TYPE, nbins=60, barmode="overlay", opacity=0.6,
                        histnorm="probability density",
                        category_orders={CELL_TYPE: [f"{c} (n={sizes[c]})" for c in data.cell_types if c in sizes]})
    for x in (-SIGNIFICANT, SIGNIFICANT):
        hist.add_vline(x=x, line_dash="dot", line_color="#6b7280")
    hist.update_layout(height=340, margin=dict(t=10), xaxis_title=f"{gene}: {UNITS}",
                       yaxis_title="density (each cell type sums to 1)", legend_title="cell type (compounds)")
    st.caption("Densities, not counts: the cell types have very different numbers of measured compounds.")
    st.plotly_chart(hist, width="stretch")
    st.markdown(
        f"**Reading the values.** A value of **+2** means {gene} went **up** with p = 0.01; **-3** means it went "
        "**down** with p = 0.001; values between -1.3 and +1.3 are not significant at p = 0.05. The dotted lines "
        f"mark |value| = {SIGNIFICANT:g} (p = 0.01). The values measure significance, not fold change: a strong "
        "but noisy effect can score lower than a small, consistent one.")

st.subheader("Heatmap: genes x compounds")
if Keys.EDA_HEATMAP_GENES not in st.session_state:
    st.session_state[Keys.EDA_HEATMAP_GENES] = ", ".join(
        g for g in (gene or DEFAULT_GENE, "IL2RA", "MYC", "GZMB", "IFNG") if g in data.gene_to_idx)
left, right = st.columns([3, 1])
heat_text = left.text_area("Genes (comma, space or one per line)", key=Keys.EDA_HEATMAP_GENES, height=80)
heat_ct = right.selectbox("Cell type", [MEAN_OVER_CELL_TYPES, *sorted(set(data.obs[CELL_TYPE]))],
                          key=Keys.EDA_HEATMAP_CELL_TYPE)
heat_match = validate_genes(heat_text, data.genes)
if heat_match.unknown:
    st.error(heat_match.message(), icon=":material/error:")
if len(heat_match.matched) > HEATMAP_MAX_GENES:
    st.warning(f"Showing the first {HEATMAP_MAX_GENES} of {len(heat_match.matched)} genes.")
heat_genes = heat_match.matched[:HEATMAP_MAX_GENES]
if heat_genes:
    try:
        heat = gene_heatmap(data, heat_genes, None if heat_ct == MEAN_OVER_CELL_TYPES else heat_ct)
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")
    else:
        n_all = heat.shape[1]
        shown = top_columns(heat, HEATMAP_COMPOUNDS)
        lim, clipped = robust_limit(heat.to_numpy(), CLIP_QUANTILE)
        colour = f"{UNITS}<br>(clipped at +-{lim:.1f},<br>{CLIP_QUANTILE:.0%} of |values|)" if clipped else UNITS
        fig = px.imshow(shown, aspect="auto", color_continuous_scale="RdBu_r", zmin=-lim, zmax=lim,
                        labels=dict(x="compound", y="gene", color=colour))
        fig.update_layout(height=max(300, 28 * len(heat_genes) + 220), margin=dict(t=10))
        fig.update_xaxes(showticklabels=True, tickangle=-60, tickfont=dict(size=10), title="compound")
        fig.update_yaxes(title="gene")
        if shown.shape[1] < n_all:
            st.caption(f"The {shown.shape[1]} of {n_all} compounds with the strongest mean |value| over these genes, "
                       "strongest first.")
        st.plotly_chart(fig, width="stretch")
elif not parse_gene_list(heat_text):
    st.info("Type one or more gene names for the heatmap.")
