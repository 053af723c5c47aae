"""Shared UI pieces: session-state keys, the sidebar dataset selector, cached loaders, badges.

Pages import from here; nothing here computes science -- it calls :mod:`scperturb_core`.
"""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from pages.formats_ui import layer_selectbox
from scperturb_core import warmup
from scperturb_core.constants import ENV_DATA, ENV_DATA_DIR, MAX_UPLOAD_MB
from scperturb_core.data import DataError, PerturbData, data_folder, resolve_data_path
from scperturb_core.loader import load_dataset


class Keys:
    """Every ``st.session_state`` key used by the app."""

    SOURCE = "data_source"  # one of SOURCES
    PATH = "data_path"
    UPLOAD = "data_upload"  # the uploader widget
    UPLOAD_ID_MAP = "data_upload_id_map"
    DATA_LAYER = "data_layer"  # the value layer of an .h5ad dataset
    UPLOADED = "uploaded_dataset"  # PerturbData parsed from this session's upload
    UPLOADED_SIG = "uploaded_signature"
    UPLOAD_ERROR = "upload_error"  # (signature, message) of an upload that failed: shown while it stays
    DATA_ERROR = "data_error"
    ACTIVE = "active_dataset"  # the PerturbData every page reads
    SHELL = "app_shell_running"  # True while app.py runs the current page
    # page widgets
    GENE = "gene"
    COMPOUND = "compound"
    MOLECULES_MAP = "molecules_map"  # the compound map's selection (click a point to open that compound)
    MOLECULES_MAP_APPLIED = "molecules_map_applied"  # the last map click already applied to the selector
    MOLECULES_FRAGMENT = "molecules_fragment"
    MOLECULES_MAP_BASIS = "molecules_map_basis"
    MOLECULE_SMILES = "molecule_smiles"
    RANK_GENES = "rank_genes"
    RANK_CELL_TYPE = "rank_cell_type"
    PREDICT_TEXT = "predict_text"
    # discovery pages (gene explorer, rank, predict)
    EDA_HEATMAP_GENES = "eda_heatmap_genes"
    EDA_HEATMAP_CELL_TYPE = "eda_heatmap_cell_type"
    EDA_TOP_N = "eda_top_n"
    RANK_MODE = "rank_mode"
    RANK_PICK = "rank_pick"
    RANK_KEEP = "rank_keep"
    RANK_KEEP_WEIGHT = "rank_keep_weight"
    RANK_UP = "rank_up"
    RANK_DOWN = "rank_down"
    RANK_TOP = "rank_top"
    RANK_MEASURED_ONLY = "rank_measured_only"
    RANK_BY = "rank_by"
    RANK_THRESHOLD = "rank_threshold"
    PREDICT_UPLOAD = "predict_upload"
    PREDICT_RESULT = "predict_result"  # (input signature, NewMoleculePredictions) of the last run
    PREDICT_PENDING = "predict_pending"  # set by the Predict button's callback; survives a rerun
    PREDICT_GENES = "predict_genes"
    PREDICT_CELL_TYPE = "predict_cell_type"
    PREDICT_MOLECULE = "predict_molecule"
    TRAIN_MODELS = "train_models"
    # training page
    TRAIN_EPOCHS = "train_epochs"
    TRAIN_HIDDEN = "train_hidden"
    TRAIN_LR = "train_lr"
    TRAIN_COMPONENTS = "train_components"
    TRAIN_TASK = "train_task"
    TRAIN_RESULT = "train_result"  # (dataset key, TrainingRun) of the last run in this session
    TRAIN_SAVE_NAME = "train_save_name"
    TRAIN_LOAD_DIR = "train_load_dir"
    TRAIN_LOADED = "train_loaded"  # (path, Predictor) loaded on the Saved models tab
    TRAIN_PENDING = "train_pending"  # set by the button callbacks; consumed by the page
    TRAIN_SAVE_PENDING = "train_save_pending"
    TRAIN_LOAD_PENDING = "train_load_pending"


APP_SCRIPT = Path(__file__).resolve().parent.parent / "app.py"

SOURCE_DEMO = "Demo (simulated values)"
SOURCE_PATH = "File path"
SOURCE_UPLOAD = "Upload"
SOURCES = (SOURCE_DEMO, SOURCE_PATH, SOURCE_UPLOAD)
#: seconds between two looks at a background job's progress
POLL_S = 1.0


@st.cache_resource(show_spinner="Loading the demo dataset (simulated values)...")
def _demo() -> PerturbData:
    return warmup.demo()  # shared with the background warm-up (loaded once per process)


@st.cache_resource(show_spinner="Reading the dataset...", max_entries=4)
def _from_path(path: str, mtime: float, layer: str | None = None) -> PerturbData:
    data = load_dataset(path, layer=layer)
    data.X.flags.writeable = False
    return data


def _upload_error(exc: Exception, parquet, id_map) -> str:
    """One line naming the user's file(s)."""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    names = [f.name for f in (parquet, id_map) if f is not None]
    if any(repr(n) in msg for n in names):
        return msg
    return f"{' with '.join(names)}: {msg}"


def _from_upload(parquet, id_map, layer: str | None = None) -> PerturbData | None:
    """Parse this session's upload once; it lives only in this session's state.

    A failed upload keeps its error (and shows it again on every page) while the same files stay in
    the uploader.
    """
    if parquet is None:
        for key in (Keys.UPLOADED, Keys.UPLOADED_SIG, Keys.UPLOAD_ERROR):
            st.session_state.pop(key, None)
        return None
    sig = (parquet.file_id, getattr(id_map, "file_id", None), layer)
    if st.session_state.get(Keys.UPLOADED_SIG) != sig:
        st.session_state.pop(Keys.UPLOADED, None)
        st.session_state.pop(Keys.UPLOAD_ERROR, None)
        st.session_state[Keys.UPLOADED_SIG] = sig
        try:
            if parquet.size > MAX_UPLOAD_MB * 2**20:
                raise DataError(f"upload too large: {parquet.size / 2**20:.0f} MB (limit {MAX_UPLOAD_MB} MB)")
            for f in (parquet, id_map):
                if f is not None:
                    f.seek(0)
            data = load_dataset(parquet, id_map=id_map, name=parquet.name, layer=layer)
        except ValueError as exc:
            st.session_state[Keys.UPLOAD_ERROR] = (sig, _upload_error(exc, parquet, id_map))
        else:
            data.X.flags.writeable = False
            st.session_state[Keys.UPLOADED] = data
    err = st.session_state.get(Keys.UPLOAD_ERROR)
    if err and err[0] == sig:
        raise DataError(err[1])
    return st.session_state.get(Keys.UPLOADED)


def dataset_sidebar() -> None:
    """Draw the dataset selector in the sidebar and load the chosen dataset into the session."""
    default_path = os.environ.get(ENV_DATA, "").strip()
    if default_path:  # absolute, so that it reads the same inside the data folder
        default_path = os.path.abspath(os.path.expanduser(default_path))
    if Keys.SOURCE not in st.session_state:
        st.session_state[Keys.SOURCE] = SOURCE_PATH if default_path else SOURCE_DEMO
    if Keys.PATH not in st.session_state:
        st.session_state[Keys.PATH] = default_path
    with st.sidebar:
        st.subheader("Dataset")
        source = st.radio("Source", SOURCES, key=Keys.SOURCE, label_visibility="collapsed")
        st.session_state.pop(Keys.DATA_ERROR, None)
        data: PerturbData | None = None
        try:
            if source == SOURCE_DEMO:
                data = _demo()
            elif source == SOURCE_PATH:
                folder = data_folder()
                path = st.text_input("de_train.parquet or .h5ad path", key=Keys.PATH, disabled=folder is None,
                                     help=f"Read only inside the data folder set by ${ENV_DATA_DIR} (default: the "
                                          f"folder of ${ENV_DATA}). The embedded Kaggle id_map is used when it "
                                          "matches the file.")
                if folder is None:
                    st.caption(f"Reading files by path is off on this server; use Upload. The operator can "
                               f"allow one folder with ${ENV_DATA_DIR}.")
                elif path.strip():
                    target, mtime = resolve_data_path(path)
                    data = _from_path(str(target), mtime, layer_selectbox(str(target), Keys.DATA_LAYER))
            else:
                st.caption("An upload lives in this browser tab only: reloading or closing the tab "
                           "forgets it, and other users never see it.")
                parquet = st.file_uploader("de_train.parquet or .h5ad", type=["parquet", "h5ad"], key=Keys.UPLOAD)
                id_map = st.file_uploader("id_map.csv (optional)", type=["csv"], key=Keys.UPLOAD_ID_MAP)
                data = _from_upload(parquet, id_map, layer_selectbox(parquet, Keys.DATA_LAYER))
        except DataError as exc:
            st.session_state[Keys.DATA_ERROR] = str(exc)
            st.error(str(exc), icon=":material/error:")
        if data is not None:
            st.caption(f"**{data.name}** -- {data.n_rows} rows x {data.n_genes:,} genes, "
                       f"{len(data.compounds)} compounds")
            if data.simulated:
                st.badge("simulated values", icon=":material/science:", color="orange")
            for note in data.notes:  # what the loader normalised (e.g. spaces stripped from names)
                st.warning(note, icon=":material/info:")
    if data is not None:
        warmup.warm(data)  # its maps and models start in the background, once for all visitors
    st.session_state[Keys.ACTIVE] = data


@st.fragment(run_every=POLL_S)
def _follow(job: warmup.Job) -> None:
    if job.done:
        st.rerun()  # the whole page, which now finds the result
    st.progress(job.fraction, text=job.text())


def follow_job(job: warmup.Job) -> None:
    """Show a background job's progress here (a bar and a status whose seconds advance), looking again
    every :data:`POLL_S` seconds without blocking the page; rerun the page when the job has finished."""
    _follow(job)


def run_page(nav) -> None:
    """Run the navigation's page from ``app.py``, marking the run so pages know the shell ran."""
    st.session_state[Keys.SHELL] = True
    try:
        nav.run()
    finally:
        st.session_state[Keys.SHELL] = False


def _ensure_app_shell() -> None:
    """Run pages only through ``app.py``.

    Until the first ``st.navigation`` call of a server process, Streamlit treats a ``pages/`` folder
    as an old-style multipage app, so a deep link (``/rank``) opened first on a fresh server would run
    the page file alone, without the dataset sidebar. Such a run (not marked by :func:`run_page`)
    switches to ``st.navigation`` mode and reruns: ``app.py`` then runs and opens the requested page.
    """
    if st.session_state.get(Keys.SHELL):
        return
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or Path(ctx.main_script_path).resolve() != APP_SCRIPT:
        return  # the page is the main script itself (e.g. a test runs it alone): nothing to rerun

    PagesManager.uses_pages_directory = False
    st.rerun()


def get_data() -> PerturbData | None:
    """The active dataset of this session (None when nothing valid is loaded)."""
    _ensure_app_shell()
    return st.session_state.get(Keys.ACTIVE)


def require_data() -> PerturbData:
    """The active dataset, or stop the page with a hint when none is loaded."""
    data = get_data()
    if data is None:
        err = st.session_state.get(Keys.DATA_ERROR)
        st.info("Choose a dataset in the sidebar." if not err else f"No dataset loaded: {err}")
        st.stop()
    return data


def simulated_badge(data: PerturbData) -> None:
    """Say plainly that the demo's values are simulated (call on every page that shows values)."""
    if data.simulated:
        st.warning("Demo dataset: real compounds, cell types, genes and train/test design, but **simulated "
                   "values**. Load the real `de_train.parquet` in the sidebar for real results.",
                   icon=":material/science:")
