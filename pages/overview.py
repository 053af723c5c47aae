"""Overview: size of the screen, the train/test cell-type imbalance, and pair coverage."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages.common import require_data, simulated_badge
from scperturb_core.constants import CELL_TYPE

st.title("Overview")
data = require_data()
simulated_badge(data)

c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Train rows", f"{data.n_rows:,}")
c2.metric("Compounds", f"{len(data.compounds):,}")
c3.metric("Cell types", len(data.cell_types))
c4.metric("Genes", f"{data.n_genes:,}")
c5.metric("Test pairs (id_map)", "none" if data.id_map is None else f"{len(data.id_map):,}")

st.subheader("Train vs test rows per cell type")
st.caption("Training rows are mostly T and NK cells; the test (id_map) asks for B and Myeloid cells.")
counts = data.rows_per_cell_type().melt(id_vars=CELL_TYPE, var_name="split", value_name="rows")
fig = px.bar(counts, x=CELL_TYPE, y="rows", color="split", barmode="group", text="rows",
             color_discrete_map={"train": "#2a6f97", "test": "#e76f51"})
fig.update_layout(xaxis_title="cell type", yaxis_title="rows (compound x cell type pairs)", legend_title=None,
                  height=380, margin=dict(t=10))
st.plotly_chart(fig, width="stretch")

st.subheader("Compound x cell type coverage")
cov = data.coverage()
codes = {"missing": 0, "train": 1, "test": 2}
z = cov.apply(lambda col: col.map(codes)).to_numpy(dtype=float).T
colorscale = [[0, "#e5e7eb"], [0.33, "#e5e7eb"], [0.34, "#2a6f97"], [0.66, "#2a6f97"],
              [0.67, "#e76f51"], [1, "#e76f51"]]
heat = go.Figure(go.Heatmap(
    z=z, x=cov.index, y=cov.columns, zmin=0, zmax=2, colorscale=colorscale, customdata=cov.to_numpy().T,
    hovertemplate="%{x}<br>%{y}: %{customdata}<extra></extra>",
    colorbar=dict(tickvals=[1 / 3, 1, 5 / 3], ticktext=["missing", "train", "test"], len=0.8),
))
heat.update_layout(height=480, margin=dict(t=10), yaxis_title="cell type",
                   xaxis=dict(showticklabels=True, tickangle=-90, tickfont=dict(size=8),
                              title=f"compound ({len(cov.index)}; hover for details)"))
st.plotly_chart(heat, width="stretch")
summary = cov.apply(lambda col: col.value_counts()).fillna(0).astype(int).T
st.dataframe(summary, width="stretch")

with st.expander("First rows of the data"):
    head = data.obs.iloc[:10].reset_index(drop=True)  # not data.to_frame(): that copies every value (~1 s)
    genes = list(data.genes[: max(0, 15 - head.shape[1])])
    st.dataframe(head.join(pd.DataFrame(data.X[:10, : len(genes)].astype("float64"), columns=genes)),
                 width="stretch")
