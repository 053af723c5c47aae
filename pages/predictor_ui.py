"""The prediction models and the value cube for the discovery pages, cached once per dataset.

The default models of a dataset are trained once (``ensure_default_models``) in a background job --
usually the server's warm-up (:mod:`scperturb_core.warmup`) has done it before a page asks -- then
loaded from disk; while they train, pages show their measured parts and a moving progress bar, and
fill in the predictions when the job finishes. The cube (measured + predicted values of every
compound x cell type pair) is built once per dataset and model. Nothing here computes science.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

import streamlit as st

from pages.common import follow_job
from scperturb_core import warmup
from scperturb_core.data import PerturbData
from scperturb_core.discovery.rank import PredictorLike, ValueCube

log = logging.getLogger(__name__)

#: predictors / cubes kept in memory (one per dataset; the demo and a user file fit)
_KEEP = 2
#: seconds a page waits in place for models being *loaded* (not trained) before it goes on without them
LOAD_WAIT_S = 60.0
#: seconds a page waits in place for models being trained before it shows its measured parts
TRAIN_WAIT_S = 1.0


class _Registry:
    """A small process-wide LRU of objects keyed by dataset, with one lock per key (no double training)."""

    def __init__(self) -> None:
        self.items: OrderedDict[str, object] = OrderedDict()
        self.locks: dict[str, threading.Lock] = {}
        self.guard = threading.Lock()
        self.jobs = warmup.JobRegistry()  # one models job per dataset and model stamp

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


def ensure_models(data: PerturbData, on_progress=None) -> PredictorLike:
    """The dataset's default models (``scperturb_core.models.predictor.ensure_default_models``)."""
    from scperturb_core.discovery import predictor_module

    predictor_module()  # a one-line error when the models module is missing
    return warmup.train_or_load_models(data, on_progress=on_progress)


def _obtain(data: PerturbData, job: warmup.Job) -> PredictorLike:
    """The models of ``data``: the warm-up's result when it has (or is) training them, else our own."""
    shared = warmup.jobs().get(warmup.models_key(data))
    if shared is not None:
        while not shared.wait(0.25):
            job.report(shared.fraction, shared.message)
        if shared.ok:
            return shared.result
    return ensure_models(data, on_progress=job.report)


def _model_stamp(data: PerturbData) -> str:
    """Modification time of the dataset's default-model manifest ("" before the first training), so
    models retrained elsewhere in the app (the training page) are picked up on the next run."""
    from scperturb_core.discovery import predictor_module

    try:
        manifest = predictor_module().default_model_dir(data) / "manifest.json"
    except ValueError:
        return ""
    return str(manifest.stat().st_mtime_ns) if manifest.is_file() else ""


def get_predictor(data: PerturbData) -> PredictorLike | None:
    """The default models of ``data``, or None while they are still being trained or when unavailable.

    The models come from one background job per dataset, shared by all visitors. Loading models from
    disk is waited for in place (a bar); while models are being trained, a bar whose status advances
    is shown here, None is returned so the page can show its measured parts, and the page reruns when
    the models are ready. An unavailable model is one ``st.error`` line.
    """
    reg = _predictors()
    key = f"{data.key}:{_model_stamp(data)}"
    pred = reg.get(key)
    if pred is not None:
        return pred
    job = reg.jobs.submit(key, "prediction models", lambda job: _obtain(data, job))
    training = not _model_stamp(data)
    if not job.done:
        slot = st.empty()
        deadline = time.monotonic() + (TRAIN_WAIT_S if training else LOAD_WAIT_S)
        while not job.wait(0.2) and time.monotonic() < deadline:
            slot.progress(job.fraction, text=job.text())
        slot.empty()
    if not job.done:
        st.info("The prediction models of this dataset are being trained (once; they are then kept on disk). "
                "Measured values are shown meanwhile; predictions fill in when the models are ready.",
                icon=":material/hourglass_top:")
        follow_job(job)
        return None
    if job.error is not None:
        st.error(f"Prediction models unavailable: {job.error}", icon=":material/error:")
        return None
    reg.put(f"{data.key}:{_model_stamp(data)}", job.result)  # the stamp of the models just written
    return job.result


def get_cube(data: PerturbData, predictor: PredictorLike | None) -> ValueCube:
    """Measured + predicted values of every compound x cell type of ``data``: built once per process and
    model, usually by the warm-up right after it loaded the models (:func:`scperturb_core.warmup.cube`)."""
    cube = warmup.cached_cube(data, predictor)
    if cube is not None:
        return cube
    bar = st.progress(0.0, text="predicting the unmeasured compound x cell type pairs...")
    cube = warmup.cube(data, predictor, on_progress=lambda done, total: bar.progress(
        done / max(total, 1), text=f"predicted {done} of {total} unmeasured pairs"))
    bar.empty()
    return cube
