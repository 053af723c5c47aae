"""scPerturb Explorer: entry point. Run with ``streamlit run app.py``."""
from __future__ import annotations

import sys

if sys.version_info < (3, 11):  # before any import that needs it: one clear line instead of a traceback
    raise RuntimeError(f"scPerturb Explorer needs Python 3.11 or newer; this is Python {sys.version.split()[0]}")

import streamlit as st  # noqa: E402

from pages.common import dataset_sidebar, run_page  # noqa: E402
from scperturb_core.warmup import start_process_warmup  # noqa: E402

st.set_page_config(page_title="scPerturb Explorer", page_icon=":material/biotech:", layout="wide")

PAGES = {
    "Explore": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/gene_eda.py", title="Gene explorer", icon=":material/genetics:"),
        st.Page("pages/molecules.py", title="Molecules", icon=":material/hub:"),
    ],
    "Discover": [
        st.Page("pages/rank.py", title="Rank compounds", icon=":material/format_list_numbered:"),
        st.Page("pages/predict.py", title="Predict new molecules", icon=":material/science:"),
    ],
    "Models": [
        st.Page("pages/training.py", title="Train models", icon=":material/model_training:"),
    ],
}

start_process_warmup()  # once per server process: default dataset, maps, models (no-op afterwards)
nav = st.navigation(PAGES)
st.sidebar.title("scPerturb Explorer")
dataset_sidebar()
run_page(nav)
