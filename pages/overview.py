"""Overview: size of the screen, the train/test cell-type imbalance, and pair coverage."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.charts import coverage_heatmap, split_bars
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
st.altair_chart(split_bars(counts), width="stretch")

st.subheader("Compound x cell type coverage")
cov = data.coverage()
st.altair_chart(coverage_heatmap(cov), width="stretch")
summary = cov.apply(lambda col: col.value_counts()).fillna(0).astype(int).T
st.dataframe(summary, width="stretch")

with st.expander("First rows of the data"):
    head = data.obs.iloc[:10].reset_index(drop=True)  # not data.to_frame(): that copies every value (~1 s)
    genes = list(data.genes[: max(0, 15 - head.shape[1])])
    st.dataframe(head.join(pd.DataFrame(data.X[:10, : len(genes)].astype("float64"), columns=genes)),
                 width="stretch")
