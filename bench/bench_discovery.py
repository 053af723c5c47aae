"""Benchmark the discovery core on the full demo with the default models.

Measures (median of ``--repeat`` runs, after one warm-up):

* ranking all compounds x all cell types for one gene and for 50 genes + 10 keep genes (with intervals,
  by confidence -- the default -- and by estimate);
* signature reversal (25 up + 25 down genes) over all compounds x cell types, with its resampled
  interval (ranks cached after warm-up);
* 100 new SMILES x 6 cell types: validation, ensemble + members, nearest training compounds.

One-off costs (the measured-only value cube with its noise levels, loading/training the models, filling
the value cube) are reported separately.

Usage: ``python bench/bench_discovery.py [--data demo|PATH] [--repeat 5]``
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scperturb_core.constants import DEFAULT_GENE, DEMO, SMILES  # noqa: E402
from scperturb_core.discovery.rank import build_cube, rank_compounds, reversal_scores  # noqa: E402
from scperturb_core.discovery.smiles import parse_smiles_table, predict_smiles  # noqa: E402
from scperturb_core.loader import load_dataset  # noqa: E402


def _time(fn, repeat: int) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def _new_smiles(data, n: int = 100) -> list[str]:
    """``n`` valid molecules the screen never measured: training compounds with a methyl or a chlorine
    added on the first carbon that carries a hydrogen (new, but near the training set)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    out: list[str] = []
    for i, smi in enumerate(data.compounds[SMILES].tolist() * 2):
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            continue
        sites = [a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "C" and a.GetTotalNumHs() > 0]
        if not sites:
            continue
        rw = Chem.RWMol(mol)
        new = rw.AddAtom(Chem.Atom(6 if i % 2 == 0 else 17))
        rw.AddBond(sites[(i // len(data.compounds)) % len(sites)], new, Chem.BondType.SINGLE)
        try:
            Chem.SanitizeMol(rw)
        except (ValueError, RuntimeError):
            continue
        out.append(Chem.MolToSmiles(rw))
        if len(out) == n:
            break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEMO)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=None, help="write the numbers as JSON")
    args = ap.parse_args()
    out: dict[str, float] = {}
    from scperturb_core.cli.discovery import _progress
    from scperturb_core.models.predictor import ensure_default_models

    data = load_dataset(args.data)
    print(f"dataset: {data.name}: {data.n_rows} rows x {data.n_genes} genes, {len(data.compounds)} compounds, "
          f"{len(data.cell_types)} cell types")
    t0 = time.perf_counter()
    measured = build_cube(data, None)  # what the Rank page shows first on a fresh server
    out["measured_cube_s"] = time.perf_counter() - t0
    print(f"measured-only value cube (per-gene noise levels included), first in this process: "
          f"{out['measured_cube_s']:.2f} s ({measured.counts()})")
    t0 = time.perf_counter()
    predictor = ensure_default_models(data, on_progress=_progress())
    print(f"models ready (load, or train on first use): {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    cube = build_cube(data, predictor)
    print(f"value cube: {cube.counts()} in {time.perf_counter() - t0:.2f} s (once per dataset and model)")

    genes50 = list(data.genes[::max(data.n_genes // 50, 1)][:50])
    keep10 = [g for g in data.genes[1::max(data.n_genes // 10, 1)] if g not in set(genes50)][:10]
    gene = DEFAULT_GENE if DEFAULT_GENE in data.gene_to_idx else data.genes[0]
    n_pairs = len(rank_compounds(cube, gene))
    t = out["rank_1_gene_s"] = _time(lambda: rank_compounds(cube, gene), args.repeat)
    print(f"rank 1 gene, all {n_pairs} compound x cell type pairs: {t * 1000:.1f} ms")
    t = out["rank_50_genes_s"] = _time(lambda: rank_compounds(cube, genes50, keep=keep10), args.repeat)
    print(f"rank 50 genes + 10 keep genes, all pairs (by confidence, with intervals): {t * 1000:.1f} ms")
    t = out["rank_50_genes_estimate_s"] = _time(lambda: rank_compounds(cube, genes50, keep=keep10, by="estimate"),
                                                args.repeat)
    print(f"rank 50 genes + 10 keep genes, all pairs (by estimate): {t * 1000:.1f} ms")
    up, down = list(data.genes[5::700][:25]), list(data.genes[9::700][:25])
    t0 = time.perf_counter()
    reversal_scores(cube, up, down)
    print(f"reversal, first call (sorts every profile once): {time.perf_counter() - t0:.2f} s")
    t = out["reversal_s"] = _time(lambda: reversal_scores(cube, up, down), args.repeat)
    print(f"reversal 25 up + 25 down genes, all pairs: {t * 1000:.1f} ms")

    smiles = _new_smiles(data)
    cts = list(predictor.cell_types)

    def run():
        return predict_smiles(predictor, parse_smiles_table(smiles), cube=cube)

    t = out["predict_100_smiles_s"] = _time(run, max(args.repeat // 2, 1))
    res = run()
    out["n_pairs"] = n_pairs
    out["n_new_smiles"] = len(res.valid)
    out["n_cell_types"] = len(cts)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"predict {len(res.valid)} new SMILES x {len(cts)} cell types (validate + ensemble + members + "
          f"nearest): {t:.2f} s -> values {res.values.shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
