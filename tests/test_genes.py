"""Gene-name validation and the gene-level summaries of the EDA page."""
from __future__ import annotations

import numpy as np
import pytest

from scperturb_core.genes import (
    GeneMatch, gene_heatmap, gene_values, parse_gene_list, resolve_genes, top_compounds, validate_genes,
)

GENES = ("CD69", "CD6", "CD96", "IL2RA", "MYC", "GAPDH")


def test_parse_gene_list_splits_and_dedups():
    assert parse_gene_list("CD69, il2ra;MYC\n cd69\tGAPDH ") == ["CD69", "il2ra", "MYC", "GAPDH"]
    assert parse_gene_list(["CD69,MYC", "myc"]) == ["CD69", "MYC"]
    assert parse_gene_list("") == [] and parse_gene_list(None) == []


def test_validate_case_insensitive_with_suggestions():
    match = validate_genes("cd69 Il2ra CD699 FOO", GENES)
    assert isinstance(match, GeneMatch)
    matched, unknown, suggestions = match
    assert matched == ["CD69", "IL2RA"]
    assert unknown == ["CD699", "FOO"]
    assert suggestions["CD699"][0] == "CD69" and set(suggestions["CD699"]) <= set(GENES)
    assert suggestions["FOO"] == []
    assert match.message() == "unknown genes: 'CD699' (did you mean " + ", ".join(suggestions["CD699"]) + "?); 'FOO'"


def test_exact_case_wins_when_names_differ_only_in_case():
    assert validate_genes(["abc"], ("ABC", "abc")).matched == ["abc"]
    assert validate_genes(["ABC"], ("ABC", "abc")).matched == ["ABC"]
    assert validate_genes(["Abc"], ("ABC", "abc")).matched == ["ABC"]  # first in data order


def test_resolve_genes_errors_name_the_bad_value():
    assert resolve_genes(["myc", "cd69"], GENES) == ["MYC", "CD69"]
    with pytest.raises(ValueError, match=r"--genes: unknown gene: 'CD6X' \(did you mean CD6"):
        resolve_genes("CD6X", GENES, what="--genes")
    with pytest.raises(ValueError, match="no gene names given"):
        resolve_genes(" , ", GENES)
    assert resolve_genes("", GENES, allow_empty=True) == []


def test_real_gene_list_suggestion():
    from scperturb_core import assets

    matched, unknown, sugg = validate_genes(["cd69", "CD6999"], assets.genes())
    assert matched == ["CD69"] and unknown == ["CD6999"] and "CD69" in sugg["CD6999"]


def test_gene_values_and_top_compounds(tiny):
    g = tiny.gene_to_idx["CD69"]
    frame = gene_values(tiny, "cd69")
    assert len(frame) == tiny.n_rows
    np.testing.assert_array_equal(frame["value"].to_numpy(), tiny.X[:, g])
    top = top_compounds(tiny, "CD69", n=2)
    for ct, sub in top.groupby("cell_type"):
        rows = tiny.obs["cell_type"] == ct
        vals = np.sort(tiny.X[rows.to_numpy(), g])
        ups = sub[sub["direction"] == "up"]["value"].to_numpy()
        downs = sub[sub["direction"] == "down"]["value"].to_numpy()
        np.testing.assert_array_equal(ups, vals[::-1][: len(ups)])
        np.testing.assert_array_equal(downs, vals[: len(downs)])
    with pytest.raises(ValueError, match="unknown gene: 'NOPE'"):
        gene_values(tiny, "NOPE")


def test_gene_heatmap(tiny):
    genes = ["CD69", tiny.genes[0]]
    ct = "NK cells"
    heat = gene_heatmap(tiny, genes, cell_type=ct)
    assert list(heat.index) == genes
    rows = (tiny.obs["cell_type"] == ct).to_numpy()
    assert list(heat.columns) == tiny.obs.loc[rows, "sm_name"].tolist()
    np.testing.assert_array_equal(heat.loc["CD69"].to_numpy(), tiny.X[rows, tiny.gene_to_idx["CD69"]])
    mean = gene_heatmap(tiny, genes, cell_type=None)
    sm = tiny.compounds["sm_name"].iloc[0]
    sel = (tiny.obs["sm_name"] == sm).to_numpy()
    assert mean.loc["CD69", sm] == pytest.approx(tiny.X[sel, tiny.gene_to_idx["CD69"]].mean(), rel=1e-6)


def test_many_unknown_names_stay_fast():
    import time

    from scperturb_core import assets
    from scperturb_core.genes import MAX_SUGGESTED

    names = [f"NOTAGENE{i}" for i in range(300)]
    t0 = time.perf_counter()
    match = validate_genes(names, assets.genes())
    assert time.perf_counter() - t0 < 5
    assert len(match.unknown) == 300 and sum(1 for v in match.suggestions.values() if v) <= MAX_SUGGESTED
    assert match.message().endswith("... (300 in all)")
