"""Real-browser fixtures: ``streamlit run app.py`` on a free local port, driven by Playwright in
Debian's headless Chromium (``/usr/bin/chromium``; Playwright's own browser download is not used)."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SCPERTURB_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SCPERTURB_SCREENSHOTS", ROOT / "artifacts" / "screenshots"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: a page has finished when Streamlit's "running" indicator is gone for this long
SETTLE_S = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_cache(tmp_path_factory) -> Path:
    """The app server's cache folder (demo, trained models)."""
    return tmp_path_factory.mktemp("browser-cache")


@pytest.fixture(scope="session")
def app_server(server_cache) -> Iterator[str]:
    """Start the app on a free loopback port and wait until it answers; yield its URL."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's 'chromium' package")
    env = dict(os.environ, SCPERTURB_CACHE=str(server_cache))
    env.pop("SCPERTURB_DATA", None)
    with running_server(["streamlit", "run", "app.py"], env, server_cache / "streamlit.log",
                        ["--server.fileWatcherType", "none"]) as (url, _proc):
        yield url


@contextlib.contextmanager
def running_server(command: list[str], env: dict, log_path: Path, extra: list[str] = ()):
    """Start ``python -m <command> ... --server.port P`` on a free local port, wait for its health
    check (90 s), yield ``(url, process)``, and stop it afterwards."""
    port = _free_port()
    args = [sys.executable, "-m", *command, *(["--"] if command[0] == "scperturb_core" else []),
            "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
            "--browser.gatherUsageStats", "false", *extra]
    log = open(log_path, "wb")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def warm_models(server_cache) -> None:
    """Train the demo's default models into the server's cache (as the first visit of a ranking page
    would), so later tests measure the pages, not the one-off training."""
    from scperturb_core.demo import load_demo
    from scperturb_core.models.predictor import ensure_default_models

    old = os.environ.get("SCPERTURB_CACHE")
    os.environ["SCPERTURB_CACHE"] = str(server_cache)
    try:
        ensure_default_models(load_demo())
    finally:
        if old is None:
            os.environ.pop("SCPERTURB_CACHE", None)
        else:
            os.environ["SCPERTURB_CACHE"] = old


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    yield pg
    ctx.close()


def wait_idle(page, timeout_s: float = 300) -> None:
    """Wait until the Streamlit script run has finished: the ``stApp`` element's
    ``data-test-script-state`` is ``notRunning`` (headless Streamlit shows no running indicator) and no
    status widget shows, steadily for ``SETTLE_S``."""
    deadline = time.monotonic() + timeout_s
    idle_since = None
    app = page.locator('[data-testid="stApp"]')
    while time.monotonic() < deadline:
        state = app.first.get_attribute("data-test-script-state") if app.count() else None
        running = state != "notRunning" or page.locator('[data-testid="stStatusWidget"]').count() > 0
        if running:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= SETTLE_S:
            return
        time.sleep(0.2)
    raise AssertionError("the app did not finish running in time")


def assert_no_errors(page) -> None:
    """No exception box and no error alert on the page."""
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()
    err = page.locator('[data-testid="stAlertContentError"]')
    assert err.count() == 0, err.first.inner_text()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def run_async(make_coro):
    """Run ``make_coro()`` to completion in a fresh thread with its own event loop (the sync
    Playwright of the other tests keeps a loop running in the main thread). Returns its result."""
    import asyncio
    import threading

    box: dict = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(make_coro())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="playwright-async")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")
