"""The project benchmark: one table of data loading, training, prediction, ranking, memory and quality.

Runs each part in its own process (so peak memory is per part, as in the app) and prints one table:

* data: simulating the demo, loading it from the cache, reading the same values as a Kaggle-schema
  de_train.parquet (614 x 18,216) through the validating loader;
* models (``bench/bench_models.py``): training time of the default ensemble (features, MLP,
  Transformer), peak RSS, prediction latency of the id_map rows, MRRMSE of baselines and models on the
  leave-one-cell-type-out folds and the id_map truth (demo only);
* discovery (``bench/bench_discovery.py``): ranking latency over all compound x cell type pairs,
  signature reversal, 100 new SMILES x every cell type.

Usage::

    python bench/run.py              # the full demo (several minutes on 2 cores)
    python bench/run.py --small      # a small dataset, seconds: what CI runs so the script cannot rot
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _data_part(small: bool, workdir: Path) -> tuple[dict, str]:
    """Time the data layer; return the numbers and the parquet path the other parts use."""
    from scperturb_core.data import load_de_train
    from scperturb_core.demo import load_demo, simulate_demo, tiny_dataset

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    data = tiny_dataset(n_genes=200, n_compounds=60) if small else simulate_demo()
    out["simulate_s"] = time.perf_counter() - t0
    if not small:
        load_demo()  # fills the cache
        t0 = time.perf_counter()
        load_demo()
        out["demo_from_cache_s"] = time.perf_counter() - t0
    path = workdir / "de_train.parquet"
    data.to_frame().to_parquet(path, index=False)
    t0 = time.perf_counter()
    loaded = load_de_train(path)
    out["load_parquet_s"] = time.perf_counter() - t0
    out["rows"], out["genes"] = loaded.n_rows, loaded.n_genes
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out, ("demo" if not small else str(path))


def _run_part(script: str, args: list[str], out: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "bench" / script), *args, "--out", str(out)]
    print("$", " ".join(cmd[1:]), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    res = json.loads(out.read_text())
    res["wall_s"] = time.perf_counter() - t0
    return res


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="small dataset and few epochs (CI)")
    ap.add_argument("--out", default=None, help="write all numbers as JSON")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="scperturb-bench-") as tmp:
        work = Path(tmp)
        os.environ.setdefault("SCPERTURB_CACHE", str(work / "cache"))
        data_res, data_spec = _data_part(args.small, work)
        model_args = ["--data", data_spec, "--quality"]
        if args.small:
            model_args += ["--epochs", "3", "--folds", "1", "--repeat", "1"]
        models = _run_part("bench_models.py", model_args, work / "models.json")
        disc_args = ["--data", data_spec, "--repeat", "1" if args.small else "5"]
        disc = _run_part("bench_discovery.py", disc_args, work / "discovery.json")

    rows = [("data", k, v) for k, v in data_res.items()]
    for key, value in models.items():
        if isinstance(value, dict):
            rows += [("models", f"{key}.{k}", v) for k, v in value.items()]
        elif not isinstance(value, list):
            rows.append(("models", key, value))
    rows += [("discovery", k, v) for k, v in disc.items()]
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    width = max(len(k) for _, k, _ in rows)
    for part, key, value in rows:
        print(f"{part:<10} {key:<{width}}  {_fmt(value)}")
    quality = models.get("quality")
    if quality:
        print()
        print("MRRMSE (lower is better)")
        import pandas as pd

        print(pd.DataFrame(quality).round(4).to_string(index=False))
    if args.out:
        Path(args.out).write_text(json.dumps({"data": data_res, "models": models, "discovery": disc}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
