"""Time-to-usable of every page in a real browser, from a fresh start with an empty cache.

    python bench/browser_bench.py                # all phases, --wait 120, --repeat 3
    python bench/browser_bench.py --wait 30 --pages overview,rank --repeat 1
    python bench/browser_bench.py --upload DIR/de_train.parquet   # also: a real-size upload

Each server is started as the README says (``python -m scperturb_core serve``) on a free local port
with an empty cache folder, and driven by Playwright in Debian's headless Chromium. Phases:

* **deep link, fresh start**: for each page, a new server with an empty cache; the page's URL is
  opened as soon as the server answers.
* **first visit, server up N s**: one new server with an empty cache, left alone ``--wait`` seconds;
  then each page is opened by a new visitor (a new browser context).
* **later visit, sidebar**: the same visitor goes to another page and comes back by the page's
  sidebar link (how a user returns to a page: same browser tab, same session).
* **later visit, reload**: the same visitor reloads the page's URL (a new session of the same
  server: the browser loads the app again).
* **upload** (with ``--upload``): on that server, a visitor uploads the file; times until the
  Overview shows it, until the Rank page shows its measured ranking, and until its predictions
  (models trained in the background for the new file) are filled in.

For each page two times are printed, in seconds from the navigation: **usable** (the page's main
content is shown and can be used; parts that need models may still be filling in) / **complete**
(nothing is running any more and no progress bar short of 100 % is left). Every measurement is made
``--repeat`` times (a new server for each deep link; new visitors on the same warm server, so only
the first round's first page is the very first visit of the server) and the table shows the medians,
with the range of the usable times: on 2 shared cores a page's time varies by up to ~1 s between runs.
Prints one markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SCPERTURB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: page -> (URL path, CSS selector of its main content: shown = usable)
PAGES = {
    "Overview": ("/", '[data-testid="stVegaLiteChart"]'),
    "Gene explorer": ("/gene_eda", '[data-testid="stVegaLiteChart"]'),
    "Molecules": ("/molecules", '[data-testid="stImage"]'),
    "Rank compounds": ("/rank", '[data-testid="stDataFrame"]'),
    "Predict new molecules": ("/predict", 'button:has-text("Predict")'),
    # its tabs: "Train & compare" works at once; the "Default models" tab fills in with the models
    "Train models": ("/training", '[data-testid="stTab"]'),
}
TIMEOUT_S = 600.0
SETTLE_S = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m scperturb_core serve`` with an empty cache folder, on a free port."""

    def __init__(self, data: str | None = None):
        self.cache = Path(tempfile.mkdtemp(prefix="scperturb-bench-cache-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, SCPERTURB_CACHE=str(self.cache), SCPERTURB_WARMUP="1")
        env.pop("NUMBA_CACHE_DIR", None)
        env.pop("SCPERTURB_DATA", None)
        if data:
            env["SCPERTURB_DATA"] = data
        self.log = open(self.cache / "server.log", "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scperturb_core", "serve", "--", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_healthy(self.url, self.proc, self.cache / "server.log")
        self.ready_s = time.monotonic() - self.started

    def events(self) -> list[str]:
        path = self.cache / "events.log"
        return path.read_text().splitlines() if path.is_file() else []

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()
        shutil.rmtree(self.cache, ignore_errors=True)


def wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, limit_s: float = 120.0) -> None:
    """Return once the Streamlit server at ``url`` answers its health check; raise (with the end of its
    log) when its process ``proc`` ends first or ``limit_s`` seconds pass."""
    started = time.monotonic()
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() - started > limit_s:
            stop_process(proc)
            raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


#: progress bars still short of 100 % (a finished bar may stay on the page, e.g. in a closed status box)
_OPEN_BARS = """() => [...document.querySelectorAll('[data-testid="stProgress"] [role="progressbar"]')]
    .filter(b => Number(b.getAttribute('aria-valuenow') ?? 0) < 100).length"""


def _running(page) -> bool:
    app = page.locator('[data-testid="stApp"]')
    state = app.first.get_attribute("data-test-script-state") if app.count() else None
    return (state != "notRunning"
            or page.locator('[data-testid="stStatusWidget"]').count() > 0
            or page.locator('[data-testid="stSpinner"]').count() > 0
            or page.evaluate(_OPEN_BARS) > 0)


def time_page(page, url: str, selector: str) -> tuple[float, float]:
    """Open ``url``; seconds until ``selector`` is visible (usable) and until nothing runs (complete)."""
    t0 = time.monotonic()
    page.goto(url, wait_until="commit")
    page.locator(selector).first.wait_for(state="visible", timeout=TIMEOUT_S * 1000)
    usable = time.monotonic() - t0
    idle_since = None
    while time.monotonic() - t0 < TIMEOUT_S:
        if _running(page):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= SETTLE_S:
            return usable, idle_since - t0
        time.sleep(0.1)
    return usable, float("nan")


def time_nav(page, title: str, selector: str) -> tuple[float, float]:
    """Click the sidebar link ``title``; seconds until the page's title and ``selector`` are visible
    (usable) and until nothing runs (complete)."""
    t0 = time.monotonic()
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=title).first.wait_for(state="visible", timeout=TIMEOUT_S * 1000)
    page.locator(selector).first.wait_for(state="visible", timeout=TIMEOUT_S * 1000)
    usable = time.monotonic() - t0
    idle_since = None
    while time.monotonic() - t0 < TIMEOUT_S:
        if _running(page):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= SETTLE_S:
            return usable, idle_since - t0
        time.sleep(0.05)
    return usable, float("nan")


def _wait_idle(page) -> None:
    t0, idle_since = time.monotonic(), None
    while time.monotonic() - t0 < TIMEOUT_S:
        if _running(page):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= SETTLE_S:
            return
        time.sleep(0.05)


def _context(browser):
    return browser.new_context(viewport={"width": 1400, "height": 1000})


def fresh_deep_links(browser, pages, repeat: int = 1) -> dict:
    """page -> [(usable, complete), ...]: its URL opened on ``repeat`` new servers with empty caches."""
    out = {name: [] for name in pages}
    for round_ in range(repeat):
        for name in pages:
            path, selector = PAGES[name]
            server = Server()
            try:
                ctx = _context(browser)
                out[name].append(time_page(ctx.new_page(), server.url + path, selector))
                ctx.close()
            finally:
                server.stop()
            u, c = out[name][-1]
            print(f"  [{round_ + 1}/{repeat}] deep link, fresh start: {name}: {u:.1f} / {c:.1f} s", file=sys.stderr)
    return out


def warm_visits(browser, pages, wait_s: float, upload: str | None,
                repeat: int = 1) -> tuple[dict, dict, dict, dict, str]:
    """On one server left alone ``wait_s`` seconds: ``repeat`` rounds of, for each page, a new visitor
    opening it (first visit), going to another page and back by the sidebar, then reloading it.
    Returns page -> [(usable, complete), ...] for each of the three, the upload's times and a note."""
    first, nav, later = ({name: [] for name in pages} for _ in range(3))
    up: dict = {}
    server = Server()
    try:
        time.sleep(max(0.0, wait_s - (time.monotonic() - server.started)))
        done = [e for e in server.events() if " warmup-done" in e]
        warm_note = (f"warm-up finished {done[0].split()[-1]} after start" if done
                     else f"warm-up still running after {wait_s:.0f} s")
        for round_ in range(repeat):
            for name in pages:
                path, selector = PAGES[name]
                ctx = _context(browser)
                pg = ctx.new_page()
                first[name].append(time_page(pg, server.url + path, selector))
                other = "Gene explorer" if name == "Overview" else "Overview"
                pg.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=other, exact=True).click()
                pg.get_by_role("heading", name=other).first.wait_for(state="visible")
                _wait_idle(pg)
                nav[name].append(time_nav(pg, name, selector))
                later[name].append(time_page(pg, server.url + path, selector))
                ctx.close()
                print(f"  [{round_ + 1}/{repeat}] {name}: first {_cell(first[name][-1:])}, "
                      f"sidebar {_cell(nav[name][-1:])}, reload {_cell(later[name][-1:])}", file=sys.stderr)
        if upload:
            up = time_upload(browser, server, upload)
    finally:
        server.stop()
    return first, nav, later, up, warm_note


def time_upload(browser, server: Server, path: str) -> dict:
    """Upload ``path`` on the Overview; then open Rank compounds in the same tab (sidebar navigation)."""
    ctx = _context(browser)
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_S * 1000)
    time_page(pg, server.url + "/", PAGES["Overview"][1])
    pg.get_by_text("Upload", exact=True).click()
    pg.locator('[data-testid="stFileUploaderDropzoneInput"]').first.wait_for(state="attached")
    import pandas as pd

    n_rows = len(pd.read_parquet(path, columns=["cell_type"]))
    t0 = time.monotonic()
    pg.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(path)
    pg.locator('[data-testid="stMetricValue"]').filter(has_text=f"{n_rows:,}").first.wait_for()
    out = {"overview shows the file": time.monotonic() - t0}
    t1 = time.monotonic()
    pg.get_by_role("link", name="Rank compounds").click()
    pg.locator(PAGES["Rank compounds"][1]).first.wait_for(state="visible")
    out["Rank: measured ranking shown"] = time.monotonic() - t1
    pg.get_by_text("predicted by the MLP").first.wait_for()
    out["Rank: predictions filled in"] = time.monotonic() - t1
    ctx.close()
    return out


def _cell(times) -> str:
    """Median usable / median complete seconds of ``[(usable, complete), ...]``; with several runs, the
    range of the usable times in brackets."""
    if not times:
        return "--"
    usable = [u for u, _ in times]
    text = f"{statistics.median(usable):.1f} / {statistics.median(c for _, c in times):.1f}"
    return text if len(times) == 1 else f"{text} ({min(usable):.1f}-{max(usable):.1f})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wait", type=float, default=120.0, help="seconds the warm server is left alone (default 120)")
    ap.add_argument("--pages", default="all",
                    help="comma-separated page names or URL paths (default: all): " + ", ".join(PAGES))
    ap.add_argument("--skip-fresh", action="store_true", help="skip the deep links on fresh servers")
    ap.add_argument("--upload", default=None, help="a de_train.parquet to upload on the warm server")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each measurement; the table shows medians and the range (default 3)")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    if args.pages == "all":
        pages = list(PAGES)
    else:
        wanted = [p.strip().lower().strip("/") for p in args.pages.split(",") if p.strip()]
        pages = [n for n, (path, _) in PAGES.items()
                 if n.lower() in wanted or path.strip("/") in wanted or (path == "/" and "overview" in wanted)]
        if not pages:
            print(f"error: no page matches --pages {args.pages!r}", file=sys.stderr)
            return 2
    if args.repeat < 1:
        print(f"error: --repeat must be at least 1, got {args.repeat}", file=sys.stderr)
        return 2
    if args.upload and not Path(args.upload).is_file():
        print(f"error: --upload file not found: {args.upload!r}", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"error: Chromium not found at {CHROMIUM}", file=sys.stderr)
        return 2

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        fresh = {} if args.skip_fresh else fresh_deep_links(browser, pages, args.repeat)
        first, nav, later, up, warm_note = warm_visits(browser, pages, args.wait, args.upload, args.repeat)
        browser.close()

    runs = "one run" if args.repeat == 1 else f"median of {args.repeat} runs (range of usable)"
    print(f"Seconds from opening the page: usable / complete, {runs} ({os.cpu_count()} cores; {warm_note}).\n")
    print(f"| page | deep link, fresh start (empty cache) | first visit, server up {args.wait:.0f} s "
          "| later visit, sidebar | later visit, reload |")
    print("| --- | --- | --- | --- | --- |")
    for name in pages:
        print(f"| {name} | {_cell(fresh.get(name))} | {_cell(first.get(name))} | {_cell(nav.get(name))} "
              f"| {_cell(later.get(name))} |")
    if up:
        print(f"\nUpload of {Path(args.upload).name} ({Path(args.upload).stat().st_size / 2**20:.0f} MB) on that "
              "server, seconds:\n")
        print("| step | seconds |")
        print("| --- | --- |")
        for step, secs in up.items():
            print(f"| {step} | {secs:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"wait_s": args.wait, "repeat": args.repeat, "warm_up": warm_note,
                                               "fresh": fresh,
                                               "first": first, "sidebar": nav, "later": later,
                                               "upload": up}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
