"""scPerturb Explorer core: data, chemistry, models and discovery for single-cell perturbation screens.

This package never imports streamlit; the app (``app.py``, ``pages/``) is built on top of it.
"""
__version__ = "0.1.0"

import sys as _sys

#: the oldest Python the project runs on (its pinned requirements need it)
MIN_PYTHON = (3, 11)
if _sys.version_info < MIN_PYTHON:  # fail early with one line, not deep inside an import
    raise RuntimeError("scPerturb Explorer needs Python %d.%d or newer; this is Python %s"
                       % (*MIN_PYTHON, _sys.version.split()[0]))
