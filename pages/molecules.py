"""Molecules: a compound's structure, descriptors, BRICS fragments, nearest neighbours, and a compound map."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages.charts import compound_map, picked_compound
from pages.common import Keys, follow_job, get_data, simulated_badge
from scperturb_core import assets, warmup
from scperturb_core.chem import (
    DESCRIPTORS,
    UNSEEN_COLUMN,
    compound_profiles,
    descriptors,
    fragment_grid_svg,
    fragment_instances,
    mol_svg,
    parse_smiles,
)
from scperturb_core.chem.maps import (
    cached_fingerprint_map,
    cached_profile_map,
    fingerprint_map_stored,
    profile_map_stored,
)
from scperturb_core.constants import SM_LINCS_ID, SM_NAME, SMILES

#: page-local session keys (the compound and pasted SMILES widgets use Keys.COMPOUND / MOLECULE_SMILES)
MAP_KEY = Keys.MOLECULES_MAP
MAP_APPLIED = Keys.MOLECULES_MAP_APPLIED
FRAGMENT_KEY = Keys.MOLECULES_FRAGMENT
MAP_BASIS_KEY = Keys.MOLECULES_MAP_BASIS
N_NEAREST = 5
FINGERPRINTS = "Fingerprints (Tanimoto)"
RESPONSES = "Response profiles"


@st.cache_data(show_spinner=False, max_entries=4)
def _fingerprint_map(smiles: tuple[str, ...]) -> np.ndarray:
    """The fingerprint map, read from disk (called once it is stored there)."""
    return cached_fingerprint_map(list(smiles))


@st.cache_data(show_spinner="Averaging responses per compound...", max_entries=4)
def _strength(key: str, _data) -> pd.DataFrame:
    return compound_profiles(_data.obs, _data.X).frame()


@st.cache_data(show_spinner=False, max_entries=4)
def _response_map(key: str, _data) -> pd.DataFrame:
    """The response-profile map, read from disk (called once it is stored there)."""
    return cached_profile_map(_data)


def _map_job(basis: str, smiles: tuple[str, ...], data) -> warmup.Job | None:
    """The maps' background job when it has run in this process (its result holds both maps), else
    None when the chosen map is on disk (read at once), else its job, started now (once for all
    visitors; the map is computed once per install and dataset)."""
    done = warmup.jobs().get(warmup.maps_key(smiles, data))
    if done is not None and done.ok:
        return done
    if basis == RESPONSES and data is not None:
        if profile_map_stored(data):
            return None
    elif fingerprint_map_stored(smiles):
        return None
    return warmup.maps_job(smiles, data)


def _apply_map_click() -> None:
    """A point clicked on the compound map (previous run) becomes the selected compound."""
    name = picked_compound(st.session_state.get(MAP_KEY))
    if name is None:
        st.session_state.pop(MAP_APPLIED, None)  # deselected: the same point may be clicked again
        return
    if st.session_state.get(MAP_APPLIED) != name:
        st.session_state[MAP_APPLIED] = name
        st.session_state[Keys.COMPOUND] = name
        st.session_state[Keys.MOLECULE_SMILES] = ""


st.title("Molecules")
data = get_data()
if data is not None:
    simulated_badge(data)
    compounds = data.compounds[[SM_NAME, SM_LINCS_ID, SMILES]].reset_index(drop=True)
else:
    st.info("No dataset loaded: showing the 146 compounds of the screen (no response values).")
    compounds = assets.compounds()[[SM_NAME, SM_LINCS_ID, SMILES]]

smiles_all, names_all = tuple(compounds[SMILES]), tuple(compounds[SM_NAME])
if warmup.library_ready(smiles_all, names_all):  # the warm-up built the default dataset's
    lib = warmup.compound_library(smiles_all, names_all)
else:
    with st.spinner("Fitting the fragment vocabulary and similarity index..."):
        lib = warmup.compound_library(smiles_all, names_all)
canonical, vocab, index, valid = lib.canonical, lib.vocabulary, lib.index, lib.usable
library = compounds[valid].reset_index(drop=True)
if vocab is None:
    st.error("no compound of the dataset has a usable SMILES")
    st.stop()
if len(library) < len(compounds):
    st.warning(f"{len(compounds) - len(library)} compound(s) of the dataset have an unusable SMILES and "
               "are left out of the fragment vocabulary and similarity search.")
library_canonical = [c for c in canonical if c is not None]
names = library[SM_NAME].tolist()
library_smiles = tuple(library[SMILES])
basis = st.session_state.get(MAP_BASIS_KEY, FINGERPRINTS)
map_job = _map_job(basis, library_smiles, data)
if map_job is not None and not map_job.done:
    st.caption(":material/hourglass_top: The compound map at the bottom of the page is being computed in the "
               "background (once per dataset); everything above it is ready.")

_apply_map_click()
if st.session_state.get(Keys.COMPOUND) not in names:
    st.session_state.pop(Keys.COMPOUND, None)

left, right = st.columns([2, 3])
compound = left.selectbox("Compound", names, key=Keys.COMPOUND)
pasted = right.text_input("...or paste any SMILES", key=Keys.MOLECULE_SMILES,
                          placeholder="e.g. CC(=O)Oc1ccccc1C(=O)O",
                          help="Any molecule; salts keep their largest fragment. Clear it to go back to the list.")

if pasted.strip():
    parsed = parse_smiles(pasted)
    same = [i for i, c in enumerate(library_canonical) if parsed.ok and c == parsed.canonical]
    known = same[0] if same else None
else:
    known = names.index(compound)
    parsed = parse_smiles(library[SMILES][known])

if not parsed.ok:
    st.error(parsed.message, icon=":material/error:")
else:
    mol = parsed.mol
    if parsed.note:
        st.info(f"Note: {parsed.note}.", icon=":material/info:")
    title = names[known] if known is not None else "Pasted molecule"
    st.subheader(title)

    hits = fragment_instances(mol, "brics")
    frags = sorted({h.smiles for h in hits}, key=lambda f: (-sum(h.smiles == f for h in hits), f))
    counts = {f: sum(h.smiles == f for h in hits) for f in frags}
    choice = st.selectbox("Highlight a BRICS fragment", ["(none)"] + frags, key=FRAGMENT_KEY,
                          format_func=lambda f: f if f == "(none)" else f"{f}  (x{counts[f]})")
    atoms = sorted({a for h in hits if h.smiles == choice for a in h.atoms})

    draw_col, info_col = st.columns([3, 2])
    with draw_col:
        st.image(mol_svg(mol, highlight_atoms=atoms, size=(560, 400)),
                 caption=f"{title}" + (f" -- fragment {choice} highlighted" if atoms else ""))
    with info_col:
        desc = descriptors(mol)
        rows = [("LINCS id", library[SM_LINCS_ID][known] if known is not None else "--")]
        rows += [(k, f"{desc[k]:.2f}" if isinstance(desc[k], float) else str(desc[k])) for k in DESCRIPTORS]
        st.dataframe(pd.DataFrame(rows, columns=["property", "value"]), hide_index=True, width="stretch")
        st.caption("Canonical SMILES (RDKit)")
        # inline code, not st.code: its syntax highlighter is a 1.5 MB script the first visit would load
        st.markdown(f"`{parsed.canonical}`")

    st.markdown(f"**BRICS fragments** -- {len(hits)} piece(s), {len(frags)} distinct; "
                "dummy atoms `[n*]` mark the cut bonds (n = BRICS environment)")
    st.image(fragment_grid_svg(frags, legends=[f"x{counts[f]}" for f in frags], mols_per_row=5,
                               sub_size=(180, 140)))

    row = vocab.count_row(mol)
    columns = vocab.columns
    freq = vocab.doc_freq + [None]
    table = pd.DataFrame([(c, columns[c], n, freq[c]) for c, n in sorted(row.items())],
                         columns=["column", "fragment", "count", "training compounds with it"])
    st.markdown(f"**Fragment count vector** -- {len(vocab)} columns ({len(vocab) - 1} fragments of the "
                f"{vocab.n_compounds} dataset compounds + `{UNSEEN_COLUMN}`); non-zero entries:")
    st.dataframe(table, hide_index=True, width="stretch")

    st.markdown(f"**{N_NEAREST} nearest compounds** (Tanimoto, Morgan radius {index.cfg.radius}, "
                f"{index.cfg.n_bits} bits)" + (" -- the compound itself excluded" if known is not None else ""))
    nearest = index.query([mol], k=N_NEAREST, exclude_self=known is not None)[0]
    if nearest:
        near_names = [n for n, _ in nearest]
        lookup = library.set_index(SM_NAME)
        st.image(fragment_grid_svg([lookup.loc[n, SMILES] for n in near_names],
                                   legends=[f"{n} ({s:.2f})" for n, s in nearest], mols_per_row=5,
                                   sub_size=(200, 170)))
        st.dataframe(pd.DataFrame({"compound": near_names,
                                   "LINCS id": [lookup.loc[n, SM_LINCS_ID] for n in near_names],
                                   "Tanimoto": [round(s, 3) for _, s in nearest]}),
                     hide_index=True, width="stretch")

st.subheader("Compound map")
bases = [FINGERPRINTS] + ([RESPONSES] if data is not None else [])
basis = st.radio("Map of", bases, horizontal=True, key=MAP_BASIS_KEY,
                 help="UMAP (seeded) of Morgan fingerprints with the Jaccard (1 - Tanimoto) distance, or "
                      "of each compound's mean response profile. Click a point to open that compound.")
map_job = _map_job(basis, library_smiles, data)
if map_job is not None and not map_job.ok:
    if map_job.done:
        st.error(f"Compound map unavailable: {map_job.error}", icon=":material/error:")
    else:
        follow_job(map_job)  # a moving status here; the page reruns when the map is ready
    st.stop()
if basis == RESPONSES and data is not None:
    frame = _response_map(data.key, data) if map_job is None else map_job.result[1]
    frame = frame[frame[SM_NAME].isin(names)]
else:
    xy = _fingerprint_map(library_smiles) if map_job is None else map_job.result[0]
    frame = pd.DataFrame({SM_NAME: names, "x": xy[:, 0], "y": xy[:, 1]})
    if data is not None:
        strength = (map_job.result[1].drop(columns=["x", "y"]) if map_job is not None and map_job.result[1] is not None
                    else _strength(data.key, data))
        frame = frame.merge(strength, on=SM_NAME, how="left")
frame = frame.merge(library, on=SM_NAME, how="left")
color = "strength" if "strength" in frame else None
current = names[known] if known is not None and parsed.ok else None
st.altair_chart(compound_map(frame, color, current), key=MAP_KEY, on_select="rerun", width="stretch")
st.caption("Click a point to open that compound (the red diamond marks the one shown above)."
           + (" Colour: response strength = row RMS of the values, averaged over the compound's rows."
              if color else ""))
