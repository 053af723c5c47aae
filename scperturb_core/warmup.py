"""Background warm-up: the slow per-dataset work done once per process, before a page asks for it.

A Streamlit server runs no script until a browser connects, so the slow first-use work of a dataset
(default models, compound maps, heavy imports) would otherwise land on the first visitor. This module
runs it in background threads:

* :class:`JobRegistry` -- one job per key (``"models:<dataset hash>"``, ...): a second request for
  the same key gets the running (or finished) job, so work started for one user never runs twice and
  never blocks another user's page; pages poll a job's progress (:attr:`Job.fraction`,
  :meth:`Job.text`) instead of starting their own.
* :func:`warm` -- start the jobs of a dataset (fingerprint map, response map, default models).
* :func:`start_process_warmup` -- once per process: heavy imports, then :func:`warm` of the app's
  default dataset (``$SCPERTURB_DATA`` or the demo) and its :func:`compound_library`. The launcher
  (``python -m scperturb_core serve``) calls it before the server starts; ``app.py`` calls it on its
  first run. ``SCPERTURB_WARMUP=0`` turns it off.

Results are persisted on disk (models and maps, keyed by dataset content hash and code version), so
a new process only loads them. What actually ran is appended to ``<cache>/events.log``
(:mod:`scperturb_core.events`), which the tests and the browser benchmark read.
"""
from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .constants import DEMO, ENV_DATA, ENV_WARMUP, SM_NAME, SMILES
from .events import EV_CUBE_BUILT, EV_MODELS_LOADED, EV_MODELS_TRAINED, EV_WARMUP_DONE, EV_WARMUP_START, record
from .io import cache_dir

log = logging.getLogger(__name__)

#: finished jobs kept (with their results) per registry; older ones are forgotten
KEEP_DONE = 8
#: a failed job is retried by a new request after this many seconds
RETRY_AFTER_S = 30.0
#: niceness added to the warm-up worker processes, so the server's pages keep the CPU first
WORKER_NICE = 10
#: modules imported by the process warm-up, so the first page does not pay for them
HEAVY_MODULES = ("torch", "rdkit.Chem", "pandas", "pyarrow.parquet", "altair", "plotly.express",
                 "sklearn.utils.extmath")


# ------------------------------------------------------------------------------------------ jobs


class Job:
    """One background computation; :meth:`report` is its ``on_progress(fraction, message)``."""

    def __init__(self, key: str, label: str):
        self.key = key
        self.label = label
        self.created = time.monotonic()
        self.started: float | None = None
        self.finished: float | None = None
        self.fraction = 0.0
        self.message = "waiting for a free worker"
        self.result: Any = None
        self.error: str | None = None
        self._done = threading.Event()

    def report(self, fraction: float | None = None, message: str | None = None, *_, **__) -> None:
        """Progress: ``fraction`` in [0, 1] (kept monotone) and/or a message."""
        if isinstance(fraction, (int, float)) and not isinstance(fraction, bool):
            self.fraction = min(max(float(fraction), self.fraction), 1.0)
        elif isinstance(fraction, str) and message is None:
            message = fraction
        if message:
            self.message = str(message).splitlines()[0]

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def ok(self) -> bool:
        return self.done and self.error is None

    def elapsed(self) -> float:
        """Seconds since the job started running (0 while queued)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    def text(self) -> str:
        """One line for a progress bar: label, current step, elapsed seconds (it advances)."""
        return f"{self.label}: {self.message} ({self.elapsed():.0f} s)"

    def wait(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` seconds; True when the job has finished."""
        return self._done.wait(timeout)

    def _run(self, fn: Callable[[Job], Any], slot: threading.Lock) -> None:
        with slot:
            self.started = time.monotonic()
            self.message = "starting"
            try:
                self.result = fn(self)
                self.fraction = 1.0
                self.message = "done"
            except Exception as exc:  # noqa: BLE001 -- reported to the page as one line
                self.error = (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__
                log.warning("%s failed: %s", self.key, self.error)
            finally:
                self.finished = time.monotonic()
                self._done.set()


class JobRegistry:
    """Jobs by key, run in daemon threads; jobs of one lane run one at a time (maps one after the
    other in one lane, models in another: the machine may have 2 cores)."""

    def __init__(self):
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._guard = threading.Lock()
        self._lanes: dict[str, threading.Lock] = {}

    def get(self, key: str) -> Job | None:
        with self._guard:
            return self._jobs.get(key)

    def submit(self, key: str, label: str, fn: Callable[[Job], Any], lane: str = "default") -> Job:
        """The job of ``key``: the existing one (running or finished), else ``fn(job)`` started now.

        A failed job is started again when it failed more than :data:`RETRY_AFTER_S` ago.
        """
        with self._guard:
            job = self._jobs.get(key)
            if job is not None and not (job.done and job.error is not None
                                        and time.monotonic() - (job.finished or 0) > RETRY_AFTER_S):
                return job
            job = Job(key, label)
            self._jobs[key] = job
            self._forget_old()
            slot = self._lanes.setdefault(lane, threading.Lock())
        threading.Thread(target=job._run, args=(fn, slot), name=f"warmup-{key}", daemon=True).start()
        return job

    def _forget_old(self) -> None:
        done = [k for k, j in self._jobs.items() if j.done]
        for k in done[: max(0, len(done) - KEEP_DONE)]:
            del self._jobs[k]

    def clear(self) -> None:
        """Forget every job (running ones finish on their own)."""
        with self._guard:
            self._jobs.clear()


_JOBS = JobRegistry()


def jobs() -> JobRegistry:
    """The process-wide job registry (shared by every visitor of a server)."""
    return _JOBS


# ------------------------------------------------------------------------------------------ work


def models_key(data) -> str:
    return f"models:{data.key}"


def maps_key(smiles, data=None) -> str:
    from .chem.maps import fingerprint_digest, profile_digest

    return f"maps:{fingerprint_digest(smiles)}:{profile_digest(data) if data is not None else '-'}"


def train_or_load_models(data, on_progress: Callable | None = None):
    """:func:`scperturb_core.models.predictor.ensure_default_models`, recording whether it trained or loaded."""
    from .models.predictor import default_model_dir, ensure_default_models

    cached = (default_model_dir(data) / "manifest.json").is_file()
    pred = ensure_default_models(data, on_progress=on_progress)
    record(EV_MODELS_LOADED if cached else EV_MODELS_TRAINED, data.key)
    return pred


def usable_smiles(smiles) -> list[str]:
    """The SMILES that parse (the compounds the fingerprint map shows), in order."""
    from .chem import parse_smiles

    return [s for s in smiles if parse_smiles(s).canonical is not None]


def _do_task(task: str, payload, report: Callable) -> None:
    if task == "models":
        train_or_load_models(payload, on_progress=report)
    elif task == "maps":
        from .chem.maps import cached_fingerprint_map, cached_profile_map

        smiles, data = payload
        report(0.2, f"UMAP of {len(smiles)} fingerprints (the first map of an install compiles code)")
        cached_fingerprint_map(smiles)
        if data is not None:
            report(0.7, f"UMAP of {len(data.compounds)} response profiles")
            cached_profile_map(data)
    else:
        raise ValueError(f"unknown warm-up task {task!r}")


def _worker_main(task: str, handoff: str) -> None:
    """Entry point of a warm-up worker process: progress lines ``progress<TAB>fraction<TAB>message`` on
    stdout, then exit 0; on failure a last line ``error<TAB>message`` and exit 1. The worker exits
    when its server process goes away."""
    import pickle
    import sys
    from pathlib import Path

    try:
        os.nice(WORKER_NICE)
    except (OSError, AttributeError):
        pass
    parent = os.getppid()

    def watch_parent() -> None:
        while True:
            time.sleep(2.0)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch_parent, daemon=True).start()
    out = sys.stdout

    def report(fraction=None, message=None, *_, **__) -> None:
        if isinstance(fraction, str) and message is None:
            fraction, message = None, fraction
        frac = f"{float(fraction):.4f}" if isinstance(fraction, (int, float)) and not isinstance(fraction, bool) else "-"
        text = " ".join(str(message or "").split())
        out.write(f"progress\t{frac}\t{text}\n")
        out.flush()

    try:
        path = Path(handoff)
        payload = pickle.loads(path.read_bytes())  # written a moment ago by our own server process
        path.unlink(missing_ok=True)
        _do_task(task, payload, report)
    except BaseException as exc:  # noqa: BLE001 -- sent to the parent as one line
        line = (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__
        out.write(f"error\t{line}\n")
        out.flush()
        sys.exit(1)


def run_in_worker(task: str, payload, job: Job) -> None:
    """Run a warm-up task in a separate, lower-priority process (so the server's own threads are not
    slowed by it holding the interpreter lock), forwarding its progress to ``job``. Results go to
    the disk cache, where the caller then reads them; an error raises ``ValueError``.

    The payload (a dataset, SMILES) is handed over in a private file of the cache folder that this
    process has just written and the worker deletes after reading.
    """
    import pickle
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from .io import atomic_write_bytes

    folder = cache_dir("warmup")
    fd, name = tempfile.mkstemp(prefix=f"{task}-", suffix=".handoff", dir=folder)
    os.close(fd)
    atomic_write_bytes(name, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    code = f"from scperturb_core.warmup import _worker_main; _worker_main({task!r}, {name!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    error = None
    try:
        for line in proc.stdout:
            kind, _, rest = line.rstrip("\n").partition("\t")
            if kind == "progress":
                frac, _, message = rest.partition("\t")
                job.report(None if frac == "-" else float(frac), message or None)
            elif kind == "error":
                error = rest
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        Path(name).unlink(missing_ok=True)
    if code != 0:
        raise ValueError(error or f"the warm-up worker for {task} stopped (exit code {code})")


class BuiltOnce:
    """Values built once per key in this process and shared by every visitor: a second caller of
    :meth:`get_or_build` for a key being built waits for that build; the newest ``keep`` stay."""

    def __init__(self, keep: int):
        self.keep = keep
        self._values: OrderedDict[Any, Any] = OrderedDict()
        self._guard = threading.Lock()
        self._locks: dict[Any, threading.Lock] = {}

    def get(self, key, default=None):
        with self._guard:
            return self._values.get(key, default)

    def get_or_build(self, key, build: Callable[[], Any]):
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._values:
                    return self._values[key]
            value = build()
            with self._guard:
                self._values[key] = value
                while len(self._values) > self.keep:
                    old, _ = self._values.popitem(last=False)
                    self._locks.pop(old, None)
            return value

    def clear(self) -> None:
        with self._guard:
            self._values.clear()
            self._locks.clear()


#: value cubes kept in memory (one per dataset and model: the default dataset and a user's file fit)
KEEP_CUBES = 2
_cubes = BuiltOnce(KEEP_CUBES)  # key -> (predictor, cube): the predictor is kept so its id is not reused


def _cube_key(data, predictor) -> tuple:
    return (data.key or id(data), id(predictor) if predictor is not None else None)


def cached_cube(data, predictor):
    """The value cube of ``data`` with ``predictor`` when already built in this process, else None."""
    hit = _cubes.get(_cube_key(data, predictor))
    return hit[1] if hit is not None and hit[0] is predictor else None


def cube(data, predictor, on_progress: Callable[[int, int], None] | None = None):
    """The value cube (:func:`scperturb_core.discovery.rank.build_cube`) of ``data`` with ``predictor``: built once
    per process and shared by every visitor; a second caller waits for the first one's build."""
    from .discovery.rank import build_cube

    def build():
        built = build_cube(data, predictor, on_progress=on_progress)
        record(EV_CUBE_BUILT, f"{data.key}:{'measured' if predictor is None else 'predicted'}")
        return predictor, built

    return _cubes.get_or_build(_cube_key(data, predictor), build)[1]


def clear_cubes() -> None:
    """Forget the value cubes built in this process (e.g. between tests)."""
    _cubes.clear()


#: compound libraries kept in memory (the default dataset's, the bundled compound list, a user's file)
KEEP_LIBRARIES = 4
_libraries = BuiltOnce(KEEP_LIBRARIES)


def _library_key(smiles, names) -> tuple:
    return tuple(smiles), tuple(names)


def compound_library(smiles, names):
    """:func:`scperturb_core.chem.library.compound_library` of these compounds: built once per process
    (the process warm-up builds the default dataset's) and shared by every visitor."""
    from .chem.library import compound_library as build

    return _libraries.get_or_build(_library_key(smiles, names), lambda: build(list(smiles), list(names)))


def library_ready(smiles, names) -> bool:
    """True when :func:`compound_library` of these compounds returns at once."""
    return _libraries.get(_library_key(smiles, names)) is not None


def _measured_cube(data) -> None:
    """Build the measured-only value cube of ``data`` (its noise levels take seconds); errors are the
    page's to show when it builds the cube itself."""
    try:
        cube(data, None)
    except Exception as exc:  # noqa: BLE001
        log.warning("measured values of %s: %s", data.name, exc)


def models_job(data, registry: JobRegistry | None = None) -> Job:
    """The job that loads (or trains once, in a worker process) the default models of ``data``, then
    predicts its unmeasured compound x cell type pairs (the Rank page's value cube)."""
    from .models.predictor import default_model_dir

    def run(job: Job):
        if not (default_model_dir(data) / "manifest.json").is_file():
            # pages show the measured values while the models train: prepare them meanwhile, here
            threading.Thread(target=_measured_cube, args=(data,), name="measured-cube", daemon=True).start()
            run_in_worker("models", data, job)
        job.report(None, "loading the models")
        pred = train_or_load_models(data)
        job.report(None, "predicting the unmeasured compound x cell type pairs")
        cube(data, pred, on_progress=lambda done, total: job.report(
            None, f"predicting the unmeasured pairs ({done} of {total})"))
        return pred

    return (registry or _JOBS).submit(models_key(data), "prediction models", run, lane="models")


def maps_job(smiles, data=None, registry: JobRegistry | None = None) -> Job:
    """The job that computes once (in a worker process) or loads the compound maps: the fingerprint
    map of ``smiles`` (all of them must parse) and, with ``data``, its response-profile map. Its
    result is ``(fingerprint xy, profile frame or None)``."""
    from .chem.maps import cached_fingerprint_map, cached_profile_map, fingerprint_map_stored, profile_map_stored

    smiles = list(smiles)

    def run(job: Job):
        if not fingerprint_map_stored(smiles) or (data is not None and not profile_map_stored(data)):
            run_in_worker("maps", (smiles, data), job)
        return cached_fingerprint_map(smiles), None if data is None else cached_profile_map(data)

    return (registry or _JOBS).submit(maps_key(smiles, data), "compound maps", run, lane="maps")


def enabled() -> bool:
    """False when ``$SCPERTURB_WARMUP`` is ``0`` / ``off`` / ``false`` / ``no``."""
    return os.environ.get(ENV_WARMUP, "1").strip().lower() not in ("0", "off", "false", "no")


def warm(data, registry: JobRegistry | None = None) -> list[Job]:
    """Start (once) the background jobs of a dataset: compound maps, then the default models."""
    if not enabled() or data is None:
        return []
    reg = registry or _JOBS
    memo = (id(reg), data.key or id(data))
    known = _warmed.get(memo)
    if known is not None and all(reg.get(j.key) is j and not (j.done and j.error) for j in known):
        return known  # the pages call this on every run: no SMILES parsing once the jobs exist
    smiles = usable_smiles(data.compounds[SMILES]) if len(data.compounds) else []
    out = [models_job(data, reg)]
    if smiles:
        out.append(maps_job(smiles, data, reg))
    _warmed[memo] = out
    while len(_warmed) > KEEP_DONE:  # it holds the jobs (and their results) alive: keep it small
        _warmed.pop(next(iter(_warmed)))
    return out


_warmed: dict[tuple, list[Job]] = {}


_started = threading.Lock()
_process_thread: threading.Thread | None = None


_demo_lock = threading.Lock()
_demo_data = None


def demo():
    """The demo dataset, loaded once per process (read-only values) and shared by the warm-up and the
    pages, so a first visit during the warm-up does not simulate it a second time."""
    global _demo_data
    with _demo_lock:
        if _demo_data is None:
            from .loader import load_dataset

            data = load_dataset(DEMO)
            data.X.flags.writeable = False
            _demo_data = data
        return _demo_data


def _default_dataset():
    from .loader import load_dataset

    path = os.environ.get(ENV_DATA, "").strip()
    if path:
        try:
            return load_dataset(os.path.expanduser(path))
        except (ValueError, OSError) as exc:
            log.warning("warm-up: %s unusable (%s); warming the demo", path, exc)
    return demo()


def _process_warmup() -> None:
    t0 = time.monotonic()
    record(EV_WARMUP_START)
    for name in HEAVY_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 -- an import that fails here fails later, visibly
            log.debug("warm-up import %s: %s", name, exc)
    try:
        data = _default_dataset()
        jobs_ = warm(data)
        compounds = data.compounds
        compound_library(compounds[SMILES], compounds[SM_NAME])  # the Molecules page's fragments and index
        for job in jobs_:
            job.wait()
    except Exception as exc:  # noqa: BLE001 -- the pages do the same work and show the error
        log.warning("warm-up failed: %s", exc)
    record(EV_WARMUP_DONE, f"{time.monotonic() - t0:.1f}s")


def start_process_warmup() -> threading.Thread | None:
    """Start the process warm-up in a daemon thread, once per process (None when disabled)."""
    global _process_thread
    if not enabled():
        return None
    with _started:
        if _process_thread is None:
            _process_thread = threading.Thread(target=_process_warmup, name="warmup", daemon=True)
            _process_thread.start()
    return _process_thread


# ------------------------------------------------------------------------------------------ CLI


def _app_script():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "app.py"


def _cmd_serve(args) -> int:
    """Start the warm-up in this process, then the Streamlit server (same process, so the models the
    warm-up loads are the ones the pages use)."""
    app = _app_script()
    if not app.is_file():
        raise ValueError(f"app.py not found next to the package: {str(app)!r}")
    os.chdir(app.parent)  # Streamlit reads .streamlit/config.toml from the working folder
    start_process_warmup()
    from streamlit.web import cli as stcli

    extra = [a for a in args.streamlit_args if a != "--"]
    return stcli.main.main(args=["run", str(app), *extra], prog_name="streamlit", standalone_mode=True)


def _cmd_warmup(args) -> int:
    """Do the warm-up of a dataset in the foreground (fills the cache before a server starts)."""
    from .loader import load_dataset

    t0 = time.monotonic()
    data = load_dataset(args.data)
    print(f"loaded {data.name} in {time.monotonic() - t0:.1f} s")
    if not enabled():
        raise ValueError(f"the warm-up is turned off (${ENV_WARMUP}={os.environ.get(ENV_WARMUP)!r})")
    for job in warm(data):
        job.wait()
        state = "failed: " + job.error if job.error else "ready"
        print(f"{job.label}: {state} ({job.elapsed():.1f} s)")
    return 0 if all(j.ok for j in _JOBS._jobs.values()) else 1


def add_parser(sub) -> None:
    import argparse

    p = sub.add_parser("serve", help="start the app with its background warm-up (recommended)",
                       description="Start the background warm-up (default dataset, compound maps, default "
                                   "models), then the Streamlit app in the same process. Arguments after "
                                   "'--' go to 'streamlit run', e.g. -- --server.port 8502.")
    p.add_argument("streamlit_args", nargs=argparse.REMAINDER, help="options for 'streamlit run'")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("warmup", help="compute a dataset's compound maps and default models into the cache")
    p.add_argument("--data", default=DEMO, help="de_train.parquet path, or 'demo' (default)")
    p.set_defaults(func=_cmd_warmup)
