"""scPerturb Explorer: entry point. Run with ``streamlit run app.py``."""
from __future__ import annotations

import streamlit as st

from pages.common import dataset_sidebar

st.set_page_config(page_title="scPerturb Explorer", page_icon=":material/biotech:", layout="wide")

PAGES = {
    "Explore": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    ],
}

nav = st.navigation(PAGES)
st.sidebar.title("scPerturb Explorer")
dataset_sidebar()
nav.run()
