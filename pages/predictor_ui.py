"""The prediction models and the value cube for the discovery pages, cached once per dataset.

The default models of a dataset are trained on first use (``ensure_default_models``) with a visible
progress status, then loaded from disk; the cube (measured + predicted values of every compound x cell
type pair) is built once per dataset and model. Nothing here computes science.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict

import streamlit as st

from scperturb_core.data import PerturbData
from scperturb_core.rank import PredictorLike, ValueCube, build_cube

log = logging.getLogger(__name__)

#: predictors / cubes kept in memory (one per dataset; the demo and a user file fit)
_KEEP = 2


class _Registry:
    """A small process-wide LRU of objects keyed by dataset, with one lock per key (no double training)."""

    def __init__(self) -> None:
        self.items: OrderedDict[str, object] = OrderedDict()
        self.locks: dict[str, threading.Lock] = {}
        self.guard = threading.Lock()

    def lock(self, key: str) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(key, threading.Lock())

    def get(self, key: str):
        with self.guard:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: str, value: object) -> None:
        with self.guard:
            self.items[key] = value
            while len(self.items) > _KEEP:
                self.items.popitem(last=False)


@st.cache_resource(show_spinner=False)
def _predictors() -> _Registry:
    return _Registry()


@st.cache_resource(show_spinner=False)
def _cubes() -> _Registry:
    return _Registry()


def ensure_models(data: PerturbData, on_progress=None) -> PredictorLike:
    """The dataset's default models (``scperturb_core.predictor.ensure_default_models``)."""
    from scperturb_core.discovery_cli import _predictor_module

    return _predictor_module().ensure_default_models(data, on_progress=on_progress)


def _progress_callback(bar, text):
    """Adapt the models' progress reports (a fraction, ``(done, total)``, or a message) to a bar."""
    def report(*args, **kwargs) -> None:
        nums = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        msgs = [str(a) for a in args if isinstance(a, str)] + [str(v) for v in kwargs.values() if isinstance(v, str)]
        frac = None
        if len(nums) >= 2 and nums[1]:
            frac = nums[0] / nums[1]
        elif len(nums) == 1 and 0 <= nums[0] <= 1:
            frac = float(nums[0])
        message = msgs[0] if msgs else text
        if frac is not None:
            bar.progress(min(max(frac, 0.0), 1.0), text=message)
        elif msgs:
            bar.progress(0.0, text=message)
    return report


def _model_stamp(data: PerturbData) -> str:
    """Modification time of the dataset's default-model manifest ("" before the first training), so
    models retrained elsewhere in the app (the training page) are picked up on the next run."""
    from scperturb_core.discovery_cli import _predictor_module

    try:
        manifest = _predictor_module().default_model_dir(data) / "manifest.json"
    except ValueError:
        return ""
    return str(manifest.stat().st_mtime_ns) if manifest.is_file() else ""


def get_predictor(data: PerturbData) -> PredictorLike | None:
    """The default models of ``data``, trained on first use under a progress status.

    Returns None (after an ``st.error``) when the models are unavailable or training fails.
    """
    reg = _predictors()
    key = f"{data.key}:{_model_stamp(data)}"
    pred = reg.get(key)
    if pred is not None:
        return pred
    with reg.lock(data.key):
        pred = reg.get(key)
        if pred is not None:
            return pred
        with st.status("Preparing the prediction models (trained once per dataset on first use)...",
                       expanded=True) as status:
            bar = st.progress(0.0, text="loading or training the MLP and Transformer")
            try:
                pred = ensure_models(data, on_progress=_progress_callback(bar, "training"))
            except ValueError as exc:
                status.update(label="Prediction models unavailable", state="error", expanded=False)
                error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            else:
                error = None
                bar.progress(1.0, text="models ready")
                status.update(label="Prediction models ready", state="complete", expanded=False)
        if error is not None:
            st.error(f"Prediction models unavailable: {error}", icon=":material/error:")
            return None
        reg.put(key, pred)
    return pred


def get_cube(data: PerturbData, predictor: PredictorLike | None) -> ValueCube:
    """Measured + predicted values of every compound x cell type of ``data`` (built once per model)."""
    key = f"{data.key}:{id(predictor) if predictor is not None else 'measured'}"
    reg = _cubes()
    cube = reg.get(key)
    if cube is not None:
        return cube
    with reg.lock(key):
        cube = reg.get(key)
        if cube is None:
            bar = st.progress(0.0, text="predicting the unmeasured compound x cell type pairs...")
            cube = build_cube(data, predictor, on_progress=lambda done, total: bar.progress(
                done / max(total, 1), text=f"predicted {done} of {total} unmeasured pairs"))
            bar.empty()
            reg.put(key, cube)
    return cube
