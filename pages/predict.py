"""Predict new molecules (SMILES): every gene in every cell type, the applicability domain, and where
each molecule would rank among the known compounds."""
from __future__ import annotations

import io

import plotly.express as px
import streamlit as st

from pages.common import Keys, require_data, simulated_badge
from pages.predictor_ui import get_cube, get_predictor
from scperturb_core.chem import fragment_grid_svg, mol_svg
from scperturb_core.constants import DEFAULT_GENE, DEFAULT_TARGET_CELL_TYPE, SM_NAME, SMILES
from scperturb_core.discovery.rank import MEASURED, SOURCE_NAMES
from scperturb_core.discovery.smiles import (
    AD_THRESHOLD, IN_DOMAIN, KNOWN, MAX_MOLECULES, MAX_SMILES_BYTES, MAX_TANIMOTO, NAME, NEAREST, NOTE, OK, REASON,
    ROW, parse_smiles_table, predict_smiles,
)
from scperturb_core.formats.export import predictions_to_h5ad_bytes
from scperturb_core.formats.provenance import provenance_for
from scperturb_core.genes import validate_genes

EXAMPLE = """CC(C)Cc1ccc(cc1)C(C)C(=O)O ibuprofen
CN1CCN(CC1)c1ccc2nc(-c3ccccc3)cc(=O)n2c1 new scaffold
C1CC broken ring"""
N_TOP_GENES = 15


def _read_input() -> str | bytes | None:
    upload = st.session_state.get(Keys.PREDICT_UPLOAD)
    if upload is not None:
        if upload.size > MAX_SMILES_BYTES:
            raise ValueError(f"upload too large: {upload.size / 2**20:.1f} MB (limit {MAX_SMILES_BYTES / 2**20:.0f} MB)")
        raw = upload.getvalue()
        if upload.name.lower().endswith(".csv"):
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{upload.name!r} is not UTF-8 text") from None
    return st.session_state.get(Keys.PREDICT_TEXT, "")


def _request_prediction() -> None:
    """Button callback: a flag in the session survives any rerun before the page reads it."""
    st.session_state[Keys.PREDICT_PENDING] = True


st.title("Predict new molecules")
data = require_data()
simulated_badge(data)
st.caption(f"Paste SMILES (one per line, optionally followed by a name) or upload a CSV with a SMILES column "
           f"(up to {MAX_MOLECULES} molecules). Invalid rows are listed with the reason; the others are predicted.")

if Keys.PREDICT_TEXT not in st.session_state:
    st.session_state[Keys.PREDICT_TEXT] = EXAMPLE
left, right = st.columns([3, 2])
left.text_area("SMILES [name], one per line", key=Keys.PREDICT_TEXT, height=150)
right.file_uploader("...or upload a CSV / .smi file (replaces the pasted text)", type=["csv", "smi", "txt"],
                    key=Keys.PREDICT_UPLOAD, max_upload_size=max(MAX_SMILES_BYTES // 2**20, 1))
st.button("Predict", type="primary", icon=":material/science:", on_click=_request_prediction)

if st.session_state.pop(Keys.PREDICT_PENDING, False):
    st.session_state.pop(Keys.PREDICT_RESULT, None)
    try:
        table = parse_smiles_table(_read_input())
    except ValueError as exc:
        st.error(str(exc).splitlines()[0], icon=":material/error:")
        st.stop()
    predictor = get_predictor(data)
    if predictor is None:
        st.stop()
    try:
        cube = get_cube(data, predictor)
        with st.spinner(f"Predicting {int(table[OK].sum())} molecule(s) in every cell type..."):
            st.session_state[Keys.PREDICT_RESULT] = (data.key, predict_smiles(predictor, table, cube=cube))
    except ValueError as exc:
        st.error(str(exc).splitlines()[0], icon=":material/error:")
        invalid = table.loc[~table[OK], [ROW, NAME, SMILES, REASON]]
        if len(invalid):
            st.dataframe(invalid, hide_index=True, width="stretch")
        st.stop()

result = st.session_state.get(Keys.PREDICT_RESULT)
if result is None or result[0] != data.key:
    st.info("Press **Predict** to run the models on the molecules above.")
    st.stop()
preds = result[1]
table = preds.table
predictor = get_predictor(data)

n_bad = int((~table[OK]).sum())
if n_bad:
    st.warning(f"{n_bad} of {len(table)} input rows are not valid molecules and were skipped:",
               icon=":material/warning:")
    st.dataframe(preds.invalid, hide_index=True, width="stretch")
out_of_domain = table[table[OK] & ~table[IN_DOMAIN].fillna(False).astype(bool)]
if len(out_of_domain):
    names = ", ".join(out_of_domain[NAME].astype(str).head(5))
    st.warning(f"Outside the applicability domain (max Tanimoto to the training compounds < {AD_THRESHOLD}): "
               f"{names}{' ...' if len(out_of_domain) > 5 else ''}. The models have seen nothing similar; treat "
               "these predictions as rough guesses.", icon=":material/warning:")

known_rows = [(pos, table.iloc[pos]) for pos in preds.valid if isinstance(table.iloc[pos][KNOWN], str)]
for pos, r in known_rows:
    v = list(preds.valid).index(pos)
    measured = [ct for t, ct in enumerate(preds.cell_types) if preds.source[v, t] == MEASURED]
    others = [ct for ct in preds.cell_types if ct not in measured]
    if measured:
        st.info(f"**{r[NAME]}** is the screen compound **{r[KNOWN]}**: its **measured** values are shown for "
                f"{', '.join(measured)}" + (f"; predicted only for {', '.join(others)}" if others else "")
                + " (column 'source').", icon=":material/verified:")
    else:
        st.info(f"**{r[NAME]}** is the training compound **{r[KNOWN]}** (not measured in this dataset): all values "
                "are predictions.", icon=":material/info:")

st.subheader("Chosen genes and rank among the known compounds")
g1, g2 = st.columns([3, 1])
if Keys.PREDICT_GENES not in st.session_state:
    st.session_state[Keys.PREDICT_GENES] = DEFAULT_GENE if DEFAULT_GENE in preds.genes else preds.genes[0]
if Keys.PREDICT_CELL_TYPE not in st.session_state:
    st.session_state[Keys.PREDICT_CELL_TYPE] = (DEFAULT_TARGET_CELL_TYPE if DEFAULT_TARGET_CELL_TYPE in preds.cell_types
                                                else preds.cell_types[0])
gene_text = g1.text_input("Genes to push down", key=Keys.PREDICT_GENES)
cell_type = g2.selectbox("Cell type", preds.cell_types, key=Keys.PREDICT_CELL_TYPE)
match = validate_genes(gene_text, preds.genes)
if match.unknown:
    st.error(match.message(), icon=":material/error:")
elif match.matched:
    try:
        ranks = preds.rank_among_known(get_cube(data, predictor), match.matched, cell_type)
        values = preds.gene_values(match.matched[:10], cell_type)
    except ValueError as exc:
        st.error(str(exc).splitlines()[0], icon=":material/error:")
    else:
        summary = ranks.merge(values.drop(columns=[NAME, OK]), on=ROW)
        summary[NEAREST] = table[NEAREST].to_numpy()
        summary[SMILES] = table[SMILES].to_numpy()
        summary[REASON] = table[REASON].to_numpy()
        first = [ROW, NAME, KNOWN, MAX_TANIMOTO, NEAREST, IN_DOMAIN, "source", "score", "score_lower", "score_upper",
                 "call", "rank_among_known", "n_known"]
        summary = summary[first + [c for c in summary.columns if c not in first]]
        st.caption(f"One row per input row; the applicability domain first. Score = -mean of the chosen genes' values "
                   f"in {cell_type} (measured for a screen compound measured there, else predicted), with its 80% "
                   f"interval ({preds.interval}); rank_among_known = where the interval's lower end would place the "
                   "molecule among the dataset's compounds ranked the same way.")
        st.dataframe(summary, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.3f")
                                    for c in ("score", "score_lower", "score_upper", "uncertainty", MAX_TANIMOTO,
                                              "percentile")})

st.subheader("One molecule in detail")
valid_rows = table.iloc[preds.valid]
labels = {f"row {r[ROW]}: {r[NAME]}": int(pos) for pos, (_, r) in zip(preds.valid, valid_rows.iterrows())}
if st.session_state.get(Keys.PREDICT_MOLECULE) not in labels:
    st.session_state.pop(Keys.PREDICT_MOLECULE, None)  # a new run: the old choice is gone
pos = labels[st.selectbox("Molecule", list(labels), key=Keys.PREDICT_MOLECULE)]
row = table.iloc[pos]
d1, d2 = st.columns([2, 3])
with d1:
    try:
        st.image(mol_svg(row["canonical"], size=(380, 280)), caption=str(row[NAME]))
    except ValueError as exc:
        st.caption(f"(no drawing: {exc})")
    if isinstance(row[NOTE], str) and row[NOTE]:
        st.info(f"Note: {row[NOTE]}", icon=":material/info:")
with d2:
    top = preds.top_genes(pos, cell_type, n=N_TOP_GENES)
    kind = SOURCE_NAMES[int(preds.source[list(preds.valid).index(pos), preds.cell_types.index(cell_type)])]
    top = top.assign(err_plus=top["upper"] - top["value"], err_minus=top["value"] - top["lower"])
    fig = px.bar(top, x="value", y="gene", color="direction", orientation="h", error_x="err_plus",
                 error_x_minus="err_minus", color_discrete_map={"up": "#c0392b", "down": "#2a6f97"},
                 hover_data={"err_plus": False, "err_minus": False, "lower": ":.2f", "upper": ":.2f"})
    fig.update_layout(height=24 * len(top) + 120, margin=dict(t=30),
                      yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=top["gene"].tolist()),
                      title=f"Top {N_TOP_GENES} up / down genes in {cell_type} ({kind}, 80% interval)",
                      legend_title=None, xaxis_title=f"{kind} value, signed -log10 p", yaxis_title=None)
    st.plotly_chart(fig, width="stretch")

st.markdown("**Applicability domain**: nearest training compounds (Tanimoto similarity of Morgan fingerprints)")
near = preds.nearest[list(preds.valid).index(pos)]
if near:
    best = max(s for _, s in near)
    if best < AD_THRESHOLD:
        st.warning(f"Max Tanimoto {best:.2f} < {AD_THRESHOLD}: outside the applicability domain -- no training "
                   "compound is structurally close, so this prediction is an extrapolation.", icon=":material/warning:")
    else:
        st.success(f"Max Tanimoto {best:.2f} >= {AD_THRESHOLD}: within the applicability domain.",
                   icon=":material/check_circle:")
    lookup = predictor.compounds.drop_duplicates(SM_NAME).set_index(SM_NAME)[SMILES] if predictor is not None else {}
    drawable = [(n, s) for n, s in near if n in lookup]
    if drawable:
        try:
            st.image(fragment_grid_svg([lookup[n] for n, _ in drawable],
                                       legends=[f"{n} ({s:.2f})" for n, s in drawable],
                                       mols_per_row=5, sub_size=(200, 170)))
        except ValueError as exc:
            st.caption(f"(no drawing: {exc})")

st.subheader("Download all values")
st.caption(f"One row per valid molecule x cell type: {len(preds.valid)} x {len(preds.cell_types)} rows, "
           f"{len(preds.genes):,} gene columns and their GENE_lower / GENE_upper interval columns, plus name, SMILES, "
           "known compound, cell type, source (measured / predicted), max Tanimoto, nearest compound and the "
           "provenance (dataset, its hash, simulated or measured values, model id, interval).")
provenance = provenance_for(data, predictor, preds.interval)


def _frame():
    return provenance.add_columns(preds.long_frame())


def _csv() -> bytes:
    return _frame().to_csv(index=False, float_format="%.6g").encode("utf-8")


def _parquet() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(_frame(), preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **provenance.parquet_metadata()})
    buf = io.BytesIO()
    pq.write_table(arrow, buf)
    return buf.getvalue()


def _h5ad() -> bytes:
    return predictions_to_h5ad_bytes(preds, simulated=data.simulated, provenance={
        **provenance.as_dict(), "model_weights": dict(getattr(predictor, "weights", None) or {})})


b1, b2, b3 = st.columns(3)
b1.download_button("CSV", data=_csv, file_name="predictions.csv", mime="text/csv", icon=":material/download:")
b2.download_button("Parquet", data=_parquet, file_name="predictions.parquet", mime="application/octet-stream",
                   icon=":material/download:")
b3.download_button("AnnData (.h5ad)", data=_h5ad, file_name="predictions.h5ad", mime="application/x-hdf5",
                   icon=":material/download:")
