"""What Streamlit itself costs in a browser: bare one-element apps, timed like the app's pages.

    python bench/browser_floor.py                 # every case, --repeat 5
    python bench/browser_floor.py --cases text,vega --repeat 3

The app's page times (``bench/browser_bench.py``) include Streamlit's own start-up in the browser:
its JavaScript, the websocket, the first script run and the code of each kind of element. This
script measures that floor on the same machine: each case is a tiny Streamlit app (a title and one
element; the last case the Rank page's kinds of elements) served by ``streamlit run`` with the app's
settings (headless, no file watcher), opened by a new visitor (**first visit**: a new browser
context, nothing cached) and then reloaded by the same visitor (**reload**: a new session; the
browser has the code cached). Times are seconds from the navigation until the case's element is
visible, the median of ``--repeat`` runs with the range in brackets. Prints one markdown table.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_bench import (  # noqa: E402
    CHROMIUM, CHROMIUM_ARGS, _context, _free_port, _wait_idle, stop_process, wait_healthy)

_HEAD = "import streamlit as st\nst.title('Bare')\n"
_FRAME = "import pandas as pd\ndf = pd.DataFrame({'a': range(20), 'b': range(20)})\n"
_CONTROLS = ("st.radio('Mode', ['a', 'b'], horizontal=True)\nst.text_area('Genes')\n"
             "st.selectbox('Cell type', ['a', 'b'])\nst.number_input('Top', 1, 10, 5)\n"
             "st.checkbox('Measured only')\nst.text_input('Keep')\nst.multiselect('Pick', ['a', 'b'])\n")
#: case -> (what it shows, its script, CSS selector of its element)
CASES = {
    "text": ("a title and a line of text", _HEAD + "st.write('hello')\n", '[data-testid="stMarkdown"]'),
    "vega": ("one Vega-Lite chart (Altair)", _HEAD + _FRAME + "import altair as alt\n"
             "st.altair_chart(alt.Chart(df).mark_point().encode(x='a', y='b'))\n", '[data-testid="stVegaLiteChart"]'),
    "plotly": ("one Plotly chart", _HEAD + _FRAME + "import plotly.express as px\n"
               "st.plotly_chart(px.scatter(df, x='a', y='b'))\n", '[data-testid="stPlotlyChart"]'),
    "dataframe": ("one st.dataframe", _HEAD + _FRAME + "st.dataframe(df)\n", '[data-testid="stDataFrame"]'),
    "vega+dataframe": ("a Vega-Lite chart, then a st.dataframe", _HEAD + _FRAME + "import altair as alt\n"
                       "st.altair_chart(alt.Chart(df).mark_point().encode(x='a', y='b'))\nst.dataframe(df)\n",
                       '[data-testid="stVegaLiteChart"]'),
    # the shape of the Rank page: its kinds of controls above a chart and a table (timed: the table)
    "controls+vega+dataframe": ("seven controls (radio, text area, select box, number, checkbox, text input, "
                                "multiselect), a Vega-Lite chart, a st.dataframe",
                                _HEAD + _FRAME + _CONTROLS + "import altair as alt\n"
                                "st.altair_chart(alt.Chart(df).mark_bar().encode(x='a', y='b'))\nst.dataframe(df)\n",
                                '[data-testid="stDataFrame"]'),
}
TIMEOUT_S = 120.0


class BareServer:
    """``streamlit run`` of one script in a temporary folder, on a free local port."""

    def __init__(self, script: str):
        self.folder = Path(tempfile.mkdtemp(prefix="scperturb-floor-"))
        (self.folder / "app.py").write_text(script)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(self.folder / "server.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=self.folder, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(self.url, self.proc, self.folder / "server.log", TIMEOUT_S)
        except RuntimeError:
            self.log.close()
            raise

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


def _visible_after(page, url: str, selector: str) -> float:
    t0 = time.monotonic()
    page.goto(url, wait_until="commit")
    page.locator(selector).first.wait_for(state="visible", timeout=TIMEOUT_S * 1000)
    return time.monotonic() - t0


def time_case(browser, name: str, repeat: int) -> tuple[list[float], list[float]]:
    """(first visits, reloads) in seconds for ``repeat`` new visitors of case ``name``'s app."""
    _, script, selector = CASES[name]
    server = BareServer(script)
    first, reload = [], []
    try:
        _visible_after(browser.new_page(), server.url, selector)  # the server's own first run, not timed
        for _ in range(repeat):
            ctx = _context(browser)
            page = ctx.new_page()
            first.append(_visible_after(page, server.url, selector))
            _wait_idle(page)
            reload.append(_visible_after(page, server.url, selector))
            _wait_idle(page)
            ctx.close()
    finally:
        server.stop()
    return first, reload


def _cell(times: list[float]) -> str:
    text = f"{statistics.median(times):.2f}"
    return text if len(times) == 1 else f"{text} ({min(times):.2f}-{max(times):.2f})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="all", help="comma-separated cases (default: all): " + ", ".join(CASES))
    ap.add_argument("--repeat", type=int, default=5, help="visitors per case; medians and ranges (default 5)")
    args = ap.parse_args(argv)
    cases = list(CASES) if args.cases == "all" else [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown or not cases:
        print(f"error: unknown case {unknown[0] if unknown else args.cases!r}; choose from {', '.join(CASES)}",
              file=sys.stderr)
        return 2
    if args.repeat < 1:
        print(f"error: --repeat must be at least 1, got {args.repeat}", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"error: Chromium not found at {CHROMIUM}", file=sys.stderr)
        return 2

    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for name in cases:
            first, reload = time_case(browser, name, args.repeat)
            rows.append((name, first, reload))
            print(f"  {name}: first {_cell(first)}, reload {_cell(reload)}", file=sys.stderr)
        browser.close()
    print(f"Seconds until the element is visible, median of {args.repeat} visitors (range); "
          f"{os.cpu_count()} cores.\n")
    print("| bare app | shows | first visit | reload |")
    print("| --- | --- | --- | --- |")
    for name, first, reload in rows:
        print(f"| {name} | {CASES[name][0]} | {_cell(first)} | {_cell(reload)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
