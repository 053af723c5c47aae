"""scPerturb Explorer core: data, chemistry, models and discovery for single-cell perturbation screens.

This package never imports streamlit; the app (``app.py``, ``pages/``) is built on top of it.
"""
__version__ = "0.1.0"
