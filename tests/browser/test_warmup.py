"""The server's background warm-up in a real browser: pages usable while it runs; after it, opening
Molecules computes no map and Rank trains no model and predicts nothing (read from the cache's events.log)."""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from scperturb_core import events
from tests.browser.conftest import assert_no_errors, running_server, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: the warm-up of the tiny dataset (maps + default models) on a busy 2-core machine
WARMUP_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def warm_server(tmp_path_factory, tiny_parquet) -> Iterator[tuple[str, object, subprocess.Popen]]:
    """``python -m scperturb_core serve`` with an empty cache, warming the tiny dataset (``$SCPERTURB_DATA``)."""
    cache = tmp_path_factory.mktemp("warmup-cache")
    env = dict(os.environ, SCPERTURB_CACHE=str(cache), SCPERTURB_WARMUP="1", SCPERTURB_DATA=str(tiny_parquet))
    env.pop("NUMBA_CACHE_DIR", None)
    with running_server(["scperturb_core", "serve"], env, cache / "server.log") as (url, proc):
        yield url, cache, proc


def _events(cache, name: str) -> list[dict]:
    return [e for e in events.read_events(cache) if e["event"] == name]


def _wait_for_event(cache, name: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not _events(cache, name):
        assert time.monotonic() < deadline, f"no {name!r} event in {timeout_s} s: {events.read_events(cache)}"
        time.sleep(0.5)


def test_pages_during_and_after_the_warm_up(warm_server, browser):
    url, cache, proc = warm_server
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(WARMUP_TIMEOUT_S * 1000)

    # a deep link while the warm-up runs: the page shows the data at once and does not start work of its own
    page.goto(url + "/rank")
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    assert page.get_by_text("192 rows").count() == 1  # the sidebar loaded $SCPERTURB_DATA
    assert_no_errors(page)

    _wait_for_event(cache, events.EV_WARMUP_DONE, WARMUP_TIMEOUT_S)
    # the warm-up did every piece of slow work exactly once, in worker processes
    assert len(_events(cache, events.EV_MODELS_TRAINED)) == 1
    assert len(_events(cache, events.EV_MAP_COMPUTED)) == 2  # fingerprints + response profiles
    assert all(e["pid"] != proc.pid for e in _events(cache, events.EV_MAP_COMPUTED))
    done_at = _events(cache, events.EV_WARMUP_DONE)[0]["time"]

    # the open Rank page filled in its predictions by itself (it followed the job)
    page.get_by_text("predicted by the MLP").first.wait_for()
    wait_idle(page)
    # its predicted pairs were predicted once, by the warm-up's models job (not by the page)
    predicted = [e for e in _events(cache, events.EV_CUBE_BUILT) if e["key"].endswith(":predicted")]
    assert len(predicted) == 1 and predicted[0]["time"] <= done_at
    # and its measured values (shown while the models trained) were prepared once, page and warm-up sharing them
    measured = [e for e in _events(cache, events.EV_CUBE_BUILT) if e["key"].endswith(":measured")]
    assert len(measured) == 1 and measured[0]["time"] <= done_at

    # after the warm-up: new visitors' Molecules and Rank pages compute nothing
    for path, ready in (("/molecules", '[data-testid="stVegaLiteChart"]'),
                        ("/rank", "text=predicted by the MLP")):
        other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        other.set_default_timeout(120_000)
        other.goto(url + path)
        other.locator(ready).first.wait_for()
        wait_idle(other)
        assert_no_errors(other)
        assert other.locator('[data-testid="stProgress"]').count() == 0
        other.context.close()
    late = [e for e in events.read_events(cache) if e["time"] > done_at
            and e["event"] in (events.EV_MODELS_TRAINED, events.EV_MAP_COMPUTED, events.EV_CUBE_BUILT)]
    assert late == []
    ctx.close()
