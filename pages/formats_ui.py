"""The sidebar's .h5ad layer choice (thin: every decision is in :mod:`scperturb_core.formats`)."""
from __future__ import annotations

import streamlit as st

from scperturb_core.data import DataError
from scperturb_core.formats.h5ad import default_layer, h5ad_layers, looks_like_h5ad


@st.cache_data(show_spinner=False, max_entries=8)
def _path_layers(path: str, mtime: float) -> list[str]:
    return h5ad_layers(path)


@st.cache_data(show_spinner=False, max_entries=8)
def _upload_layers(file_id: str, _upload) -> list[str]:
    return h5ad_layers(_upload.getvalue())


def layer_selectbox(source, key: str) -> str | None:
    """For an .h5ad ``source`` (a path or a Streamlit upload) draw a selectbox of the layers it holds
    and return the chosen one (default ``sign_log10_pval``, else ``X``); ``None`` for any other file.

    Raises:
        DataError: the .h5ad is unreadable (one line, as from the loader).
    """
    if source is None or not looks_like_h5ad(source):
        return None
    if isinstance(source, str):
        import os

        if not os.path.isfile(source):
            return None
        layers = _path_layers(source, os.path.getmtime(source))
    else:
        layers = _upload_layers(source.file_id, source)
    if not layers:
        raise DataError("the .h5ad file holds no value layers (no 'layers' and no 'X')")
    if st.session_state.get(key) not in layers:
        st.session_state[key] = default_layer(layers) if default_layer(layers) in layers else layers[0]
    return st.selectbox("Value layer", layers, key=key,
                        help="The .h5ad layer whose values are analysed (the Kaggle values are "
                             "'sign_log10_pval'; the benchmark scores 'clipped_sign_log10_pval').")

