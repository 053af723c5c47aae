"""Rank compounds that push chosen genes down in a target cell type, or that reverse a disease signature."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from pages.common import Keys, require_data, simulated_badge
from pages.predictor_ui import get_cube, get_predictor
from scperturb_core.chem import mol_svg
from scperturb_core.constants import CELL_TYPE, DEFAULT_GENE, DEFAULT_TARGET_CELL_TYPE, SM_NAME, SMILES
from scperturb_core.formats.export import ranking_to_h5ad_bytes
from scperturb_core.genes import parse_gene_list, validate_genes
from scperturb_core.rank import KEEP_WEIGHT, rank_compounds, reversal_scores

MODE_GENES = "Push genes down"
MODE_SIGNATURE = "Reverse a disease signature"
ALL_CELL_TYPES = "All cell types"
N_STRUCTURES = 6
SOURCE_COLORS = {"measured": "#2a6f97", "predicted": "#e76f51"}


def _check(text: str, genes, label: str) -> list[str] | None:
    """Validated names of a gene box; None (after an error listing unknown names) when any is unknown."""
    match = validate_genes(text, genes)
    if match.unknown:
        st.error(f"{label}: {match.message()}", icon=":material/error:")
        return None
    return match.matched


st.title("Rank compounds")
data = require_data()
simulated_badge(data)

mode = st.radio("Mode", (MODE_GENES, MODE_SIGNATURE), horizontal=True, key=Keys.RANK_MODE,
                label_visibility="collapsed")
cell_types = data.cell_types
if Keys.RANK_CELL_TYPE not in st.session_state:
    st.session_state[Keys.RANK_CELL_TYPE] = (DEFAULT_TARGET_CELL_TYPE if DEFAULT_TARGET_CELL_TYPE in cell_types
                                             else cell_types[0])
if Keys.RANK_GENES not in st.session_state:
    st.session_state[Keys.RANK_GENES] = DEFAULT_GENE if DEFAULT_GENE in data.gene_to_idx else data.genes[0]

c1, c2, c3 = st.columns([2, 1, 1])
target_ct = c2.selectbox("Target cell type", [*cell_types, ALL_CELL_TYPES], key=Keys.RANK_CELL_TYPE)
top_n = c3.number_input("Top hits", min_value=5, max_value=200, value=20, step=5, key=Keys.RANK_TOP)
measured_only = c3.toggle("Measured pairs only", key=Keys.RANK_MEASURED_ONLY,
                          help="Skip the models: rank only the pairs measured in the dataset.")

ok = True
if mode == MODE_GENES:
    text = c1.text_area("Genes to push down (paste: comma, space or one per line)", key=Keys.RANK_GENES, height=80)
    picked = c1.multiselect("...or pick genes", list(data.genes), key=Keys.RANK_PICK)
    k1, k2 = st.columns([3, 1])
    keep_text = k1.text_input("Genes to keep unchanged (optional)", key=Keys.RANK_KEEP)
    keep_weight = k2.number_input("Keep penalty weight", min_value=0.0, max_value=10.0, value=KEEP_WEIGHT, step=0.25,
                                  key=Keys.RANK_KEEP_WEIGHT)
    targets = _check(parse_gene_list(text) + list(picked), data.genes, "Genes")
    keep = _check(keep_text, data.genes, "Keep genes")
    ok = targets is not None and keep is not None
    if ok and not targets:
        st.info("Type or pick at least one gene to push down.")
        ok = False
    st.caption("Score = -mean(values of the chosen genes) - weight x mean(|values of the keep genes|), in signed "
               "-log10 p units: higher = pushes the chosen genes down harder while leaving the keep genes alone.")
else:
    u, d = c1.columns(2)
    up_text = u.text_area("Disease up-regulated genes", key=Keys.RANK_UP, height=120)
    down_text = d.text_area("Disease down-regulated genes", key=Keys.RANK_DOWN, height=120)
    ups = _check(up_text, data.genes, "Up genes")
    downs = _check(down_text, data.genes, "Down genes")
    ok = ups is not None and downs is not None
    if ok and not (ups or downs):
        st.info("Paste the up- and/or down-regulated genes of a disease signature.")
        ok = False
    st.caption("Reversal score (CMap/CLUE-style connectivity, in [-1, 1]): weighted Kolmogorov-Smirnov enrichment of "
               "the up and the down genes within each compound's full profile; +1 = the disease's up genes are the "
               "compound's most down-regulated genes and its down genes the most up-regulated.")

if not ok:
    st.stop()

predictor = None
if not measured_only:
    predictor = get_predictor(data)
    if predictor is None:
        st.warning("Ranking measured pairs only.", icon=":material/warning:")
try:
    cube = get_cube(data, predictor)
    scope = None if target_ct == ALL_CELL_TYPES else target_ct
    if mode == MODE_GENES:
        table = rank_compounds(cube, targets, scope, keep=keep, keep_weight=float(keep_weight))
    else:
        table = reversal_scores(cube, ups, downs, scope)
except ValueError as exc:
    st.error(str(exc).splitlines()[0], icon=":material/error:")
    st.stop()

counts = table["source"].value_counts()
if predictor is None:
    st.markdown(f"**{len(table)} measured compound x cell type pairs** ranked.")
else:
    st.markdown(f"**{len(table)} compound x cell type pairs** ranked: {counts.get('measured', 0)} measured, "
                f"{counts.get('predicted', 0)} predicted by the MLP + Transformer ensemble "
                "(uncertainty = their disagreement, |MLP - Transformer|, averaged over the genes; 0 when measured).")
top = table.head(int(top_n))

label = top[SM_NAME] + ((" | " + top[CELL_TYPE]) if scope is None else "")
bar = px.bar(top.assign(label=label), x="score", y="label", color="source", orientation="h",
             error_x="uncertainty", color_discrete_map=SOURCE_COLORS,
             hover_data={SMILES: False, "label": False, SM_NAME: True, CELL_TYPE: True, "uncertainty": ":.2f"})
bar.update_layout(height=max(300, 22 * len(top) + 120), margin=dict(t=10), yaxis_title=None, legend_title=None,
                  yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=label.tolist()))
st.plotly_chart(bar, width="stretch")

st.subheader("Ranking")
st.dataframe(table.drop(columns=[SMILES]), width="stretch", hide_index=True,
             column_config={"score": st.column_config.NumberColumn(format="%.3f"),
                            "uncertainty": st.column_config.NumberColumn(format="%.3f")})
st.download_button("Download the ranking (CSV)", data=table.to_csv(index=False).encode("utf-8"),
                   file_name="ranking.csv", mime="text/csv", icon=":material/download:")


def _ranking_h5ad() -> bytes:
    query = {"genes": targets, "keep": keep} if mode == MODE_GENES else {"up": ups, "down": downs}
    return ranking_to_h5ad_bytes(table, simulated=data.simulated, provenance={
        "dataset": data.name, "dataset_key": data.key, "mode": mode, "cell_type": target_ct,
        "measured_only": bool(measured_only), **query})


st.download_button("Download the ranking (.h5ad)", data=_ranking_h5ad, file_name="ranking.h5ad",
                   mime="application/x-hdf5", icon=":material/download:")

st.subheader("Structures of the top hits")
hits = top.drop_duplicates(SM_NAME).head(N_STRUCTURES)
cols = st.columns(3)
for i, row in enumerate(hits.itertuples(index=False)):
    with cols[i % 3]:
        try:
            st.image(mol_svg(getattr(row, SMILES), size=(320, 240)), width="stretch")
        except ValueError as exc:
            st.caption(f"(no drawing: {exc})")
        st.caption(f"#{row.rank} **{getattr(row, SM_NAME)}** ({getattr(row, CELL_TYPE)}), score {row.score:.2f}, "
                   f"{row.source}")
