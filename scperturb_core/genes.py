"""Gene names typed or pasted by a user: parse a list, match it to the data's genes, suggest fixes.

Matching is case-insensitive and exact (``cd69`` -> ``CD69``); an unknown name gets up to
:data:`N_SUGGESTIONS` close matches (:func:`difflib.get_close_matches` on upper-cased names).
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd

#: close matches offered per unknown name
N_SUGGESTIONS = 3
#: difflib similarity cutoff (0..1) for a close match
SUGGESTION_CUTOFF = 0.6
#: unknown names that get suggestions (difflib over ~18k genes costs ~0.1 s per name)
MAX_SUGGESTED = 10
#: longest gene list accepted in one request
MAX_GENES = 2000
#: how many unknown names an error message lists
_SHOW = 5

_SPLIT = re.compile(r"[\s,;]+")


class GeneMatch(NamedTuple):
    """Result of :func:`validate_genes`; unpacks as ``matched, unknown, suggestions``.

    Attributes:
        matched: the data's spelling of every recognised name, in input order, without repeats.
        unknown: names not in the data, as typed, in input order, without repeats.
        suggestions: for each unknown name, up to :data:`N_SUGGESTIONS` close gene names (may be empty;
            only the first :data:`MAX_SUGGESTED` unknown names are looked up).
    """

    matched: list[str]
    unknown: list[str]
    suggestions: dict[str, list[str]]

    def message(self) -> str:
        """One line naming the unknown genes and their suggestions ("" when all are known)."""
        if not self.unknown:
            return ""
        parts = []
        for name in self.unknown[:_SHOW]:
            close = self.suggestions.get(name) or []
            parts.append(f"{name!r} (did you mean {', '.join(close)}?)" if close else repr(name))
        more = f" ... ({len(self.unknown)} in all)" if len(self.unknown) > _SHOW else ""
        noun = "gene" if len(self.unknown) == 1 else "genes"
        return f"unknown {noun}: {'; '.join(parts)}{more}"


def parse_gene_list(text: str | Iterable[str] | None) -> list[str]:
    """Split pasted text (commas, semicolons, spaces, tabs or new lines) into names, keeping order.

    A list is flattened the same way (each item may itself hold several names). Empty pieces and
    repeats (case-insensitive) are dropped.
    """
    if text is None:
        return []
    pieces = _SPLIT.split(text) if isinstance(text, str) else [p for t in text for p in _SPLIT.split(str(t))]
    seen: set[str] = set()
    out = []
    for p in pieces:
        p = p.strip().strip("'\"")
        if p and p.upper() not in seen:
            seen.add(p.upper())
            out.append(p)
    return out


@lru_cache(maxsize=8)
def _index(genes: tuple[str, ...]) -> tuple[dict[str, str], tuple[str, ...]]:
    upper = tuple(g.upper() for g in genes)
    lookup: dict[str, str] = {}
    for g, u in zip(genes, upper):
        lookup.setdefault(u, g)
    return lookup, upper


def validate_genes(names: str | Iterable[str], genes: Sequence[str]) -> GeneMatch:
    """Match ``names`` to ``genes`` case-insensitively.

    Args:
        names: gene names (a list, or pasted text split by :func:`parse_gene_list`).
        genes: the data's gene names (e.g. ``PerturbData.genes``).

    Returns:
        :class:`GeneMatch` ``(matched, unknown, suggestions)``; an exact-case match wins over a
        case-insensitive one when the data has names differing only in case.
    """
    genes = tuple(genes)
    exact = set(genes)
    lookup, upper = _index(genes)
    matched: list[str] = []
    unknown: list[str] = []
    suggestions: dict[str, list[str]] = {}
    for name in parse_gene_list(names):
        hit = name if name in exact else lookup.get(name.upper())
        if hit is not None:
            if hit not in matched:
                matched.append(hit)
            continue
        unknown.append(name)
        if len(unknown) <= MAX_SUGGESTED:
            close = difflib.get_close_matches(name.upper(), upper, n=N_SUGGESTIONS, cutoff=SUGGESTION_CUTOFF)
        else:
            close = []
        suggestions[name] = [lookup[c] for c in close]
    return GeneMatch(matched, unknown, suggestions)


def resolve_genes(names: str | Iterable[str], genes: Sequence[str], *, what: str = "genes",
                  allow_empty: bool = False) -> list[str]:
    """The data's spelling of ``names``; ``ValueError`` naming every unknown one (with suggestions).

    Args:
        what: how the list is called in the error (e.g. ``"--genes"``).
        allow_empty: return ``[]`` for no names instead of raising.
    """
    match = validate_genes(names, genes)
    if match.unknown:
        raise ValueError(f"{what}: {match.message()}")
    if not match.matched and not allow_empty:
        raise ValueError(f"{what}: no gene names given")
    if len(match.matched) > MAX_GENES:
        raise ValueError(f"{what}: too many genes ({len(match.matched)}; limit {MAX_GENES})")
    return match.matched


# ------------------------------------------------------------------------------------ gene EDA
# (measured values only: the training rows of a dataset)

#: the |value| above which a change is called significant in summaries: -log10 p > 2, i.e. p < 0.01
SIGNIFICANT = 2.0


def _gene_index(data, gene: str) -> tuple[str, int]:
    name = resolve_genes([gene], data.genes, what="gene")[0]
    return name, data.gene_to_idx[name]


def gene_values(data, gene: str) -> pd.DataFrame:
    """Measured values of one gene: one row per training row, ``cell_type, sm_name, control, value``.

    ``value`` is the signed -log10 p (sign of the log fold change vs DMSO).
    """
    from .constants import CELL_TYPE, CONTROL, SM_NAME

    _, j = _gene_index(data, gene)
    out = data.obs[[CELL_TYPE, SM_NAME, CONTROL]].copy()
    out["value"] = data.X[:, j]
    return out.reset_index(drop=True)


def top_compounds(data, gene: str, n: int = 5) -> pd.DataFrame:
    """The ``n`` most up- and ``n`` most down-regulating compounds of ``gene`` per cell type.

    Returns:
        ``cell_type, direction ("up"/"down"), rank (1 = strongest), sm_name, value``; per cell type
        the up rows first (largest value first), then the down rows (smallest first). A compound is
        listed as "up" only with a positive value and as "down" only with a negative one.
    """
    from .constants import CELL_TYPE, SM_NAME

    vals = gene_values(data, gene)
    parts = []
    for ct in sorted(vals[CELL_TYPE].unique()):
        sub = vals[vals[CELL_TYPE] == ct]
        up = sub[sub["value"] > 0].sort_values(["value", SM_NAME], ascending=[False, True], kind="stable").head(n)
        down = sub[sub["value"] < 0].sort_values(["value", SM_NAME], ascending=[True, True], kind="stable").head(n)
        for direction, part in (("up", up), ("down", down)):
            parts.append(pd.DataFrame({CELL_TYPE: ct, "direction": direction, "rank": np.arange(1, len(part) + 1),
                                       SM_NAME: part[SM_NAME].to_numpy(), "value": part["value"].to_numpy()}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=[CELL_TYPE, "direction", "rank", SM_NAME, "value"])


def gene_heatmap(data, genes: str | Iterable[str], cell_type: str | None = None) -> pd.DataFrame:
    """Genes x compounds table of measured values.

    Args:
        genes: gene names (validated; ``ValueError`` names unknown ones).
        cell_type: the compounds measured in this cell type (training-row order); None -> every
            compound (first-appearance order), averaged over the cell types where it was measured.

    Returns:
        DataFrame, index = genes (the data's spelling), columns = compound names, float32 values.
    """
    from .constants import CELL_TYPE, SM_NAME

    names = resolve_genes(genes, data.genes, what="genes")
    idx = [data.gene_to_idx[g] for g in names]
    if cell_type is not None:
        rows = (data.obs[CELL_TYPE] == cell_type).to_numpy()
        if not rows.any():
            raise ValueError(f"no measured rows for cell type {cell_type!r}")
        return pd.DataFrame(data.X[np.ix_(rows, idx)].T, index=names, columns=data.obs.loc[rows, SM_NAME].tolist())
    frame = pd.DataFrame(data.X[:, idx], columns=names)
    frame[SM_NAME] = data.obs[SM_NAME].to_numpy()
    mean = frame.groupby(SM_NAME, sort=False).mean().astype(np.float32)
    return mean.T.reindex(columns=data.compounds[SM_NAME].tolist())


def gene_summary(data, gene: str) -> pd.DataFrame:
    """Per cell type summary of one gene: ``cell_type, n, mean, median, std, min, max, n_up, n_down``
    where ``n_up`` / ``n_down`` count compounds with value > :data:`SIGNIFICANT` / < -SIGNIFICANT."""
    from .constants import CELL_TYPE

    vals = gene_values(data, gene)
    grouped = vals.groupby(CELL_TYPE)["value"]
    out = grouped.agg(["size", "mean", "median", "std", "min", "max"]).rename(columns={"size": "n"})
    out["n_up"] = grouped.apply(lambda v: int((v > SIGNIFICANT).sum()))
    out["n_down"] = grouped.apply(lambda v: int((v < -SIGNIFICANT).sum()))
    return out.reset_index()
