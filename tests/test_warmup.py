"""The background warm-up: one job per key, progress, errors, events, maps kept on disk."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from scperturb_core import events, warmup
from scperturb_core.chem import maps

FEW = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O"]  # fewer than MIN_UMAP_POINTS: laid out by PCA, fast


def test_one_job_per_key_runs_once_for_many_callers():
    reg = warmup.JobRegistry()
    calls = []
    gate = threading.Event()

    def work(job):
        calls.append(1)
        job.report(0.5, "half way")
        gate.wait(5)
        return "result"

    jobs = [reg.submit("k", "thing", work) for _ in range(5)]
    assert all(j is jobs[0] for j in jobs)
    deadline = time.monotonic() + 5
    while jobs[0].message != "half way" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert jobs[0].fraction == 0.5 and not jobs[0].done
    assert jobs[0].text().startswith("thing: half way (")
    gate.set()
    assert jobs[0].wait(5) and jobs[0].ok and jobs[0].result == "result"
    assert reg.submit("k", "thing", work) is jobs[0]  # finished: reused, not run again
    assert calls == [1]


def test_progress_is_monotone_and_accepts_a_bare_message():
    job = warmup.Job("k", "x")
    job.report(0.6, "a")
    job.report(0.2, "b")  # a later step reporting a smaller fraction does not move the bar back
    job.report("only a message")
    assert job.fraction == 0.6 and job.message == "only a message"


def test_a_failure_is_one_line_and_retried_only_later(monkeypatch):
    reg = warmup.JobRegistry()

    def boom(job):
        raise ValueError("first line\nsecond line")

    job = reg.submit("k", "x", boom)
    assert job.wait(5) and not job.ok and job.error == "first line"
    assert reg.submit("k", "x", boom) is job  # failed just now: not restarted on every rerun
    monkeypatch.setattr(warmup, "RETRY_AFTER_S", 0.0)
    assert reg.submit("k", "x", lambda j: 1) is not job


def test_events_are_recorded_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCPERTURB_CACHE", str(tmp_path))
    events.record(events.EV_MODELS_TRAINED, "abc")
    recorded = events.read_events(tmp_path)
    assert [(e["event"], e["key"]) for e in recorded] == [("models-trained", "abc")]


def test_fingerprint_map_is_computed_once_and_kept_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("SCPERTURB_CACHE", str(tmp_path))
    assert not maps.fingerprint_map_stored(FEW)
    xy = maps.cached_fingerprint_map(FEW)
    assert maps.fingerprint_map_stored(FEW)
    again = maps.cached_fingerprint_map(FEW)
    np.testing.assert_array_equal(xy, again)
    assert [e["event"] for e in events.read_events(tmp_path)] == [events.EV_MAP_COMPUTED]
    assert maps.fingerprint_digest(FEW) != maps.fingerprint_digest(FEW[::-1])


def test_a_corrupt_map_file_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("SCPERTURB_CACHE", str(tmp_path))
    maps.cached_fingerprint_map(FEW)
    path = next((tmp_path / "maps").glob("fingerprints-*.npy"))
    path.write_bytes(b"not a numpy file")
    assert maps.cached_fingerprint_map(FEW).shape == (3, 2)
    assert len(events.read_events(tmp_path)) == 2


def test_profile_map_is_kept_per_dataset(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("SCPERTURB_CACHE", str(tmp_path))
    monkeypatch.setattr(maps, "profile_map", lambda profiles, seed=0: np.zeros((len(profiles), 2), np.float32))
    frame = maps.cached_profile_map(tiny)
    assert list(frame.columns) == ["sm_name", "strength", "rows", "x", "y"] and len(frame) == len(tiny.compounds)
    assert maps.profile_map_stored(tiny)
    maps.cached_profile_map(tiny)
    assert len(events.read_events(tmp_path)) == 1


def test_maps_job_runs_in_a_worker_process_once(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("SCPERTURB_CACHE", str(tmp_path))
    reg = warmup.JobRegistry()
    job = warmup.maps_job(FEW, None, reg)
    assert warmup.maps_job(FEW, None, reg) is job
    assert job.wait(120), job.text()
    assert job.ok, job.error
    xy, profiles = job.result
    assert xy.shape == (3, 2) and profiles is None
    recorded = events.read_events(tmp_path)
    assert [e["event"] for e in recorded] == [events.EV_MAP_COMPUTED]
    assert recorded[0]["pid"] != os.getpid()  # computed in the worker, not in the server's process


def test_warm_does_nothing_when_turned_off(tiny, monkeypatch):
    monkeypatch.setenv("SCPERTURB_WARMUP", "0")
    assert warmup.warm(tiny, warmup.JobRegistry()) == []
    assert warmup.start_process_warmup() is None


@pytest.mark.parametrize("value, on", [("1", True), ("0", False), ("off", False), ("no", False), ("yes", True)])
def test_enabled(monkeypatch, value, on):
    monkeypatch.setenv("SCPERTURB_WARMUP", value)
    assert warmup.enabled() is on


def test_value_cube_is_built_once_per_dataset_and_model(tiny, tmp_path, monkeypatch):
    from tests.fake_predictor import FakePredictor

    monkeypatch.setenv("SCPERTURB_CACHE", str(tmp_path))
    warmup.clear_cubes()
    pred = FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds, offset=0.5)
    assert warmup.cached_cube(tiny, pred) is None
    got = []
    threads = [threading.Thread(target=lambda: got.append(warmup.cube(tiny, pred))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 3 and all(c is got[0] for c in got)  # three callers, one build
    assert warmup.cached_cube(tiny, pred) is got[0]
    # another model of the same data is another cube; so is "measured only"
    other = FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds, offset=1.0)
    assert warmup.cube(tiny, other) is not got[0]
    measured = warmup.cube(tiny, None)
    assert measured is not got[0]
    keys = [e["key"] for e in events.read_events(tmp_path) if e["event"] == events.EV_CUBE_BUILT]
    assert keys == [f"{tiny.key}:predicted", f"{tiny.key}:predicted", f"{tiny.key}:measured"]
    # only the newest KEEP_CUBES stay in memory
    assert warmup.cached_cube(tiny, pred) is None and warmup.cached_cube(tiny, other) is not None
    warmup.clear_cubes()


def test_models_job_prepares_the_measured_values_while_the_models_train(tiny, tmp_path, monkeypatch):
    """While the worker trains, the server's process builds the measured-only cube (the Rank page shows
    it meanwhile); then the predicted cube. Each once."""
    from scperturb_core.models import predictor as predictor_mod
    from tests.fake_predictor import FakePredictor

    monkeypatch.setenv("SCPERTURB_CACHE", str(tmp_path))
    warmup.clear_cubes()
    pred = FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds, offset=0.5)
    trained = threading.Event()

    def fake_worker(task, payload, job):
        assert task == "models" and payload is tiny
        deadline = time.monotonic() + 60
        while warmup.cached_cube(tiny, None) is None:  # "training" lasts until the measured cube is there
            assert time.monotonic() < deadline, "no measured cube while the models trained"
            time.sleep(0.05)
        trained.set()

    monkeypatch.setattr(predictor_mod, "default_model_dir", lambda data: tmp_path / "models")
    monkeypatch.setattr(warmup, "run_in_worker", fake_worker)
    monkeypatch.setattr(warmup, "train_or_load_models", lambda data, on_progress=None: pred)
    job = warmup.models_job(tiny, warmup.JobRegistry())
    assert job.wait(120), job.text()
    assert job.ok, job.error
    assert trained.is_set() and job.result is pred
    assert warmup.cached_cube(tiny, pred) is not None and warmup.cached_cube(tiny, None) is not None
    keys = [e["key"] for e in events.read_events(tmp_path) if e["event"] == events.EV_CUBE_BUILT]
    assert sorted(keys) == [f"{tiny.key}:measured", f"{tiny.key}:predicted"]
    warmup.clear_cubes()


def test_built_once_builds_a_key_once_for_concurrent_callers_and_keeps_the_newest():
    memo = warmup.BuiltOnce(keep=2)
    calls = []
    gate = threading.Event()

    def build():
        calls.append(1)
        gate.wait(5)
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(memo.get_or_build("a", build))) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    assert memo.get("a") is None  # still building: not served half-made
    gate.set()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 4 and all(g is got[0] for g in got)
    memo.get_or_build("b", object)
    memo.get_or_build("c", object)  # "a" is the oldest of three: forgotten
    assert memo.get("a") is None and memo.get("b") is not None and memo.get("c") is not None
    memo.clear()
    assert memo.get("b") is None


def test_compound_library_is_built_once_per_compound_list(monkeypatch):
    from scperturb_core.chem import library

    builds = []
    real = library.compound_library
    monkeypatch.setattr(library, "compound_library", lambda s, n: builds.append(1) or real(s, n))
    monkeypatch.setattr(warmup, "_libraries", warmup.BuiltOnce(warmup.KEEP_LIBRARIES))
    names = ["ethanol", "phenol", "aspirin"]
    assert not warmup.library_ready(FEW, names)
    lib = warmup.compound_library(FEW, names)
    assert warmup.library_ready(FEW, names) and warmup.compound_library(tuple(FEW), tuple(names)) is lib
    assert builds == [1]
    assert lib.usable == [True, True, True] and lib.index.names == names
    assert not warmup.library_ready(FEW, ["a", "b", "c"])  # other names: another library


def test_process_warmup_builds_the_default_datasets_compound_library(tiny, tmp_path, monkeypatch):
    from scperturb_core.constants import SM_NAME, SMILES

    monkeypatch.setenv("SCPERTURB_CACHE", str(tmp_path))
    monkeypatch.setattr(warmup, "HEAVY_MODULES", ())
    monkeypatch.setattr(warmup, "_default_dataset", lambda: tiny)
    monkeypatch.setattr(warmup, "warm", lambda data: [])  # maps and models: tested above
    monkeypatch.setattr(warmup, "_libraries", warmup.BuiltOnce(warmup.KEEP_LIBRARIES))
    smiles, names = tiny.compounds[SMILES], tiny.compounds[SM_NAME]
    assert not warmup.library_ready(smiles, names)
    warmup._process_warmup()
    assert warmup.library_ready(smiles, names)
    assert [e["event"] for e in events.read_events(tmp_path)] == [events.EV_WARMUP_START, events.EV_WARMUP_DONE]
