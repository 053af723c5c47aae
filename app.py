"""scPerturb Explorer: entry point. Run with ``streamlit run app.py``."""
from __future__ import annotations

import streamlit as st

from pages.common import dataset_sidebar, run_page

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

nav = st.navigation(PAGES)
st.sidebar.title("scPerturb Explorer")
dataset_sidebar()
run_page(nav)
