"""Gene explorer: one gene across cell types and compounds, its strongest compounds, a genes x
compounds heatmap, and what the values mean."""
from __future__ import annotations

import streamlit as st

from pages.charts import density_histogram, gene_box, value_heatmap
from pages.common import Keys, require_data, simulated_badge
from scperturb_core.constants import CELL_TYPE, DEFAULT_GENE
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
    st.altair_chart(gene_box(values, gene, data.cell_types, UNITS), width="stretch")
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
    st.caption("Densities, not counts: the cell types have very different numbers of measured compounds.")
    st.altair_chart(density_histogram(values, gene, data.cell_types, UNITS, (-SIGNIFICANT, SIGNIFICANT)),
                    width="stretch")
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
        colour = [UNITS, f"(clipped at +-{lim:.1f},", f"{CLIP_QUANTILE:.0%} of |values|)"] if clipped else UNITS
        if shown.shape[1] < n_all:
            st.caption(f"The {shown.shape[1]} of {n_all} compounds with the strongest mean |value| over these genes, "
                       "strongest first.")
        st.altair_chart(value_heatmap(shown, lim, colour), width="stretch")
elif not parse_gene_list(heat_text):
    st.info("Type one or more gene names for the heatmap.")
