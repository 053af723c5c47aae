"""Rank compounds that push chosen genes down in a target cell type, or that reverse a disease signature."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.charts import score_bars
from pages.common import Keys, require_data, simulated_badge
from pages.predictor_ui import get_cube, get_predictor
from scperturb_core.chem import mol_svg
from scperturb_core.constants import CELL_TYPE, DEFAULT_GENE, DEFAULT_TARGET_CELL_TYPE, SM_NAME, SMILES
from scperturb_core.discovery.rank import (
    BY_CONFIDENCE, BY_ESTIMATE, KEEP_WEIGHT, SCORE, SCORE_LOWER, SCORE_UPPER, SIGNIFICANCE, rank_compounds,
    reversal_scores, split_hits,
)
from scperturb_core.formats.export import ranking_to_h5ad_bytes
from scperturb_core.formats.provenance import provenance_for
from scperturb_core.genes import parse_gene_list, validate_genes

MODE_GENES = "Push genes down"
MODE_SIGNATURE = "Reverse a disease signature"
ALL_CELL_TYPES = "All cell types"
N_STRUCTURES = 6
RANK_BY_LABELS = {BY_CONFIDENCE: "Confidence (lower end of the interval)", BY_ESTIMATE: "Estimate"}
GENE_SCORE_AXIS = "score, signed -log10 p (higher = chosen genes pushed down harder)"
REVERSAL_AXIS = "reversal score, connectivity (unitless, -1 to 1; higher = reverses the signature)"


def _check(text: str, genes, label: str) -> list[str] | None:
    """Validated names of a gene box; None (after an error listing unknown names) when any is unknown."""
    match = validate_genes(text, genes)
    if match.unknown:
        st.error(f"{label}: {match.message()}", icon=":material/error:")
        return None
    return match.matched


def _structures(rows: pd.DataFrame, heading: str) -> None:
    """Drawings of the first distinct compounds of ``rows`` under ``heading``."""
    rows = rows.drop_duplicates(SM_NAME).head(N_STRUCTURES)
    if rows.empty:
        return
    st.subheader(heading)
    cols = st.columns(3)
    for i, row in enumerate(rows.itertuples(index=False)):
        with cols[i % 3]:
            try:
                st.image(mol_svg(getattr(row, SMILES), size=(320, 240)), width="stretch")
            except ValueError as exc:
                st.caption(f"(no drawing: {exc})")
            st.caption(f"#{row.rank} **{getattr(row, SM_NAME)}** ({getattr(row, CELL_TYPE)}), score {row.score:.2f} "
                       f"[{getattr(row, SCORE_LOWER):.2f}, {getattr(row, SCORE_UPPER):.2f}], {row.source}")


_NUMBERS = {c: st.column_config.NumberColumn(format="%.3f")
            for c in (SCORE, SCORE_LOWER, SCORE_UPPER, "p_down", "p_reverse", "target_mean", "target_lower",
                      "target_upper", "keep_mean_abs", "uncertainty", "es_up", "es_down", "strength")}


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
top_n = c3.number_input("Pairs in the chart", min_value=5, max_value=200, value=20, step=5, key=Keys.RANK_TOP)
measured_only = c3.toggle("Measured pairs only", key=Keys.RANK_MEASURED_ONLY,
                          help="Skip the models: rank only the pairs measured in the dataset.")

ok = True
if mode == MODE_GENES:
    text = c1.text_area("Genes to push down (paste: comma, space or one per line)", key=Keys.RANK_GENES, height=80)
    # the list of every gene sits in a popover: drawn on the page, its 18,211 options cost a first visit ~0.6 s
    with c1.popover("...or pick genes from the list", icon=":material/list:"):
        picked = st.multiselect("Genes to push down", list(data.genes), key=Keys.RANK_PICK,
                                placeholder="Type to search the genes")
    if picked:
        c1.caption(f"Picked from the list: {', '.join(picked)}")
    k1, k2, k3, k4 = st.columns([3, 1, 2, 1])
    keep_text = k1.text_input("Genes to keep unchanged (optional)", key=Keys.RANK_KEEP)
    keep_weight = k2.number_input("Keep penalty weight", min_value=0.0, max_value=10.0, value=KEEP_WEIGHT, step=0.25,
                                  key=Keys.RANK_KEEP_WEIGHT)
    rank_by = k3.radio("Rank by", list(RANK_BY_LABELS), format_func=RANK_BY_LABELS.get, key=Keys.RANK_BY,
                       horizontal=True)
    threshold = k4.number_input("Hit threshold, |signed -log10 p|", min_value=0.0, max_value=50.0,
                                value=SIGNIFICANCE, step=0.1, key=Keys.RANK_THRESHOLD,
                                help="1.3 = p < 0.05, 2 = p < 0.01 (on average over the chosen genes)")
    targets = _check(parse_gene_list(text) + list(picked), data.genes, "Genes")
    keep = _check(keep_text, data.genes, "Keep genes")
    ok = targets is not None and keep is not None
    if ok and not targets:
        st.info("Type or pick at least one gene to push down.")
        ok = False
    if rank_by == BY_CONFIDENCE:
        st.caption("**How the ranking works:** each pair is ranked by the lower end of its 80% interval, so it ranks "
                   "high only if it pushes the chosen genes down *and* that is certain; measured and predicted pairs "
                   "share this scale (measured: +- measurement noise; predicted: the models' interval).")
    else:
        st.caption("**How the ranking works:** each pair is ranked by its estimate, -mean(values of the chosen genes) "
                   "- weight x mean(|values of the keep genes|), ignoring how certain it is.")
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
    st.caption("**How the ranking works:** CMap/CLUE-style connectivity in [-1, 1] (weighted Kolmogorov-Smirnov "
               "enrichment of the up and the down genes within each compound's full profile), +1 = the disease's up "
               "genes are the compound's most down-regulated genes. Its 80% interval, in the same units, comes from "
               "resampling each profile within its uncertainty.")

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
        table = rank_compounds(cube, targets, scope, keep=keep, keep_weight=float(keep_weight), by=rank_by,
                               threshold=float(threshold))
    else:
        table = reversal_scores(cube, ups, downs, scope)
except ValueError as exc:
    st.error(str(exc).splitlines()[0], icon=":material/error:")
    st.stop()

if mode == MODE_GENES:  # the answer first: hits, or plainly none
    hits, closest = split_hits(table)
    wrong = table[~table.index.isin(hits.index) & ~table.index.isin(closest.index)]
    if hits.empty:
        st.warning(f"**No compound x cell type pair meets the threshold**: none lowers the chosen genes by a mean of "
                   f"-{threshold:g} or more (signed -log10 p) with its interval entirely below 0.",
                   icon=":material/search_off:")
    else:
        st.success(f"**{len(hits)} hit(s)**: pairs that lower the chosen genes by a mean of -{threshold:g} or more "
                   "with the interval entirely below 0.", icon=":material/check_circle:")

counts = table["source"].value_counts()
if predictor is None:
    st.markdown(f"**{len(table)} measured compound x cell type pairs** ranked.")
else:
    st.markdown(f"**{len(table)} compound x cell type pairs** ranked: {counts.get('measured', 0)} measured, "
                f"{counts.get('predicted', 0)} predicted by the MLP + Transformer ensemble. Intervals: {cube.interval}.")
if cube.calibrated is False:
    st.warning("These models were saved before calibrated intervals existed: predicted intervals are the "
               "UNCALIBRATED MLP-vs-Transformer spread. Retrain the models for calibrated intervals.",
               icon=":material/warning:")

if mode == MODE_GENES:
    if hits.empty:
        if closest.empty:
            st.info("Every pair moves the chosen genes up on average (the wrong way): nothing to suggest.")
        else:
            st.subheader(f"Closest candidates (not hits): {len(closest)} pairs lower the genes without reaching it")
            st.altair_chart(score_bars(closest.head(int(top_n)), GENE_SCORE_AXIS, scope is None), width="stretch")
    else:
        st.subheader("Top hits")
        st.altair_chart(score_bars(hits.head(int(top_n)), GENE_SCORE_AXIS, scope is None), width="stretch")
    st.subheader(f"Hits ({len(hits)})")
    if len(hits):
        st.dataframe(hits.drop(columns=[SMILES]), width="stretch", hide_index=True, column_config=_NUMBERS)
    else:
        st.caption("None.")
    st.subheader(f"Not hits ({len(closest)} candidates, {len(wrong)} wrong way)")
    st.caption("Candidates lower the genes but not significantly or not certainly; 'wrong way' pairs raise them.")
    st.dataframe(pd.concat([closest, wrong]).drop(columns=[SMILES]), width="stretch", hide_index=True,
                 column_config=_NUMBERS)
else:
    positive = table[table[SCORE] > 0]
    zero = int((table[SCORE] == 0).sum())
    chart_rows = table[table[SCORE] != 0].head(int(top_n))
    if positive.empty:
        st.warning("**No pair reverses the signature** (every reversal score is <= 0).", icon=":material/search_off:")
    if len(chart_rows):
        st.altair_chart(score_bars(chart_rows, REVERSAL_AXIS, scope is None), width="stretch")
    if zero:
        st.caption(f"{zero} pairs score exactly 0 (the up and down genes moved the same way, so CLUE's rule zeroes "
                   "the score); they are left out of the chart and ordered by 'strength' (the score before "
                   "zeroing) in the table.")
    st.subheader("Ranking")
    st.dataframe(table.drop(columns=[SMILES]), width="stretch", hide_index=True, column_config=_NUMBERS)

export = provenance_for(data, predictor, cube.interval).add_columns(table)
st.download_button("Download the ranking (CSV)", data=export.to_csv(index=False).encode("utf-8"),
                   file_name="ranking.csv", mime="text/csv", icon=":material/download:")



def _ranking_h5ad() -> bytes:
    query = {"genes": targets, "keep": keep} if mode == MODE_GENES else {"up": ups, "down": downs}
    facts = provenance_for(data, predictor, cube.interval).as_dict()
    return ranking_to_h5ad_bytes(export, simulated=data.simulated, provenance={
        **facts, "mode": mode, "cell_type": target_ct, "measured_only": bool(measured_only), **query})


st.download_button("Download the ranking (.h5ad)", data=_ranking_h5ad, file_name="ranking.h5ad",
                   mime="application/x-hdf5", icon=":material/download:")

if mode == MODE_GENES:
    if len(hits):
        _structures(hits, "Structures of the top hits")
    else:
        _structures(closest, "Structures of the closest candidates (not hits)")
else:
    _structures(table[table[SCORE] > 0], "Structures of the top reversers")
