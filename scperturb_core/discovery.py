"""Predictions for new molecules given as SMILES: input parsing, validation, applicability domain,
and where each molecule would rank among the known compounds.

Every input row is kept: :func:`parse_smiles_table` returns one row per input line / CSV row (invalid
ones flagged with a one-line reason) and every result of :func:`predict_smiles` stays aligned with it.
"""
from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .constants import CELL_TYPE, SM_NAME, SMILES
from .genes import resolve_genes
from .rank import KEEP_WEIGHT, SCORE, UNCERTAINTY, PredictorLike, ValueCube, predict_with_spread, rank_compounds, target_score

log = logging.getLogger(__name__)

#: below this max Tanimoto similarity to the training compounds a prediction is outside the
#: applicability domain (Morgan fingerprints; the models have seen nothing that close)
AD_THRESHOLD = 0.35
#: nearest training compounds reported per molecule
N_NEAREST = 5
#: most molecules per request in the app (results of 100 x 6 cell types x 18,211 genes are ~66 MB per
#: session); the CLI accepts more and predicts them in chunks of this size
MAX_MOLECULES = 100
#: largest SMILES file / upload accepted
MAX_SMILES_BYTES = 2 * 2**20
#: column names accepted for the SMILES and the name of an uploaded CSV (case-insensitive)
SMILES_COLUMNS = ("smiles", "canonical_smiles", "smile")
NAME_COLUMNS = ("name", "sm_name", "compound", "id", "title")

# columns of the input table and the summaries
ROW = "row"  # 1-based input line (text) or data row (CSV)
NAME = "name"
CANONICAL = "canonical"
OK = "ok"
REASON = "reason"
NOTE = "note"
MAX_TANIMOTO = "max_tanimoto"
NEAREST = "nearest_compound"
IN_DOMAIN = "in_domain"
RANK_AMONG_KNOWN = "rank_among_known"
N_KNOWN = "n_known"
PERCENTILE = "percentile"
TABLE_COLUMNS = (ROW, NAME, SMILES, CANONICAL, OK, REASON, NOTE)

_SPLIT_LINE = re.compile(r"[\s,;]+")


def _read_csv(raw: bytes, label: str, max_bytes: int = MAX_SMILES_BYTES) -> pd.DataFrame:
    if len(raw) > max_bytes:
        raise ValueError(f"{label} too large: {len(raw) / 2**20:.1f} MB (limit {max_bytes / 2**20:.0f} MB)")
    if not raw.strip():
        raise ValueError(f"{label} is empty")
    try:
        return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{label} is not a readable CSV file ({str(exc).splitlines()[0]})") from None


def _find_column(columns: Sequence[str], wanted: Sequence[str]) -> str | None:
    lower = {str(c).strip().lower(): c for c in columns}
    for w in wanted:
        if w in lower:
            return lower[w]
    return None


def _from_frame(df: pd.DataFrame, label: str = "the CSV", limit: int | None = MAX_MOLECULES) -> pd.DataFrame:
    col = _find_column(df.columns, SMILES_COLUMNS)
    if col is None:
        shown = ", ".join(repr(str(c)) for c in list(df.columns)[:8])
        raise ValueError(f"no SMILES column in {label}; its columns are: {shown}")
    name_col = _find_column([c for c in df.columns if c != col], NAME_COLUMNS)
    smiles = df[col].tolist()
    names = df[name_col].tolist() if name_col is not None else [None] * len(df)
    return _table(list(range(1, len(df) + 1)), smiles, names, limit)


def _from_text(text: str, limit: int | None = MAX_MOLECULES) -> pd.DataFrame:
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    header = [t.strip().lower() for t in re.split(r"[,\t;]", first)]
    if any(h in SMILES_COLUMNS for h in header) and len(header) > 1:  # a pasted CSV with a header
        return _from_frame(_read_csv(text.encode("utf-8"), "the pasted table"), "the pasted table", limit)
    rows, smiles, names = [], [], []
    for i, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = _SPLIT_LINE.split(stripped, maxsplit=1)
        if not rows and parts[0].lower() in SMILES_COLUMNS:  # a one-column header
            continue
        rows.append(i)
        smiles.append(parts[0])
        names.append(parts[1].strip() if len(parts) > 1 and parts[1].strip() else None)
    return _table(rows, smiles, names, limit)


def _table(rows: list[int], smiles: list[object], names: list[object],
           limit: int | None = MAX_MOLECULES) -> pd.DataFrame:
    from .chem import parse_smiles_batch

    if limit is not None and len(rows) > limit:
        raise ValueError(f"too many molecules: {len(rows)} (limit {limit} per request; "
                         "the predict-smiles command takes more)")
    parsed = parse_smiles_batch(smiles)
    clean_names = []
    for r, n in zip(rows, names):
        n = "" if n is None or (isinstance(n, float) and np.isnan(n)) else str(n).strip()
        clean_names.append(n or f"mol{r}")
    return pd.DataFrame({
        ROW: np.asarray(rows, dtype=np.int64),
        NAME: clean_names,
        SMILES: [p.input for p in parsed],
        CANONICAL: [p.canonical for p in parsed],
        OK: np.array([p.ok for p in parsed], dtype=bool),
        REASON: [p.reason for p in parsed],
        NOTE: [p.note for p in parsed],
    }, columns=list(TABLE_COLUMNS))


def parse_smiles_table(source: str | bytes | pd.DataFrame | Sequence[str],
                       limit: int | None = MAX_MOLECULES) -> pd.DataFrame:
    """Read molecules from pasted text, CSV bytes, a DataFrame or a list of SMILES; validate each.

    Text: one molecule per line, ``SMILES`` or ``SMILES name`` (separated by spaces, a tab, a comma
    or a semicolon); blank lines and ``#`` comments are skipped; a pasted CSV with a header naming a
    SMILES column is read as a CSV. CSV bytes / DataFrame: a column named ``SMILES`` (any case; also
    ``canonical_smiles``) and optionally ``name`` / ``sm_name`` / ``compound`` / ``id``.

    Returns:
        One row per input molecule, in input order: ``row`` (1-based line or data row), ``name``
        (``mol<row>`` when none is given), ``SMILES`` (as given), ``canonical``, ``ok``, ``reason``
        (why invalid, one line) and ``note`` (e.g. salt stripped). Invalid rows are kept.

    Raises:
        ValueError: a CSV without a SMILES column, an unreadable or too large file, no molecules at
            all, more than ``limit`` molecules (default :data:`MAX_MOLECULES`; None = no limit).
    """
    if isinstance(source, pd.DataFrame):
        table = _from_frame(source, limit=limit)
    elif isinstance(source, bytes):
        table = _from_frame(_read_csv(source, "the SMILES file"), "the SMILES file", limit)
    elif isinstance(source, str):
        if len(source.encode("utf-8")) > MAX_SMILES_BYTES:
            raise ValueError(f"pasted text too large (limit {MAX_SMILES_BYTES / 2**20:.0f} MB)")
        table = _from_text(source, limit)
    else:
        items = list(source)
        table = _table(list(range(1, len(items) + 1)), items, [None] * len(items), limit)
    return _check_empty(table)


def _check_empty(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        raise ValueError("no molecules given: paste one SMILES per line or upload a CSV with a SMILES column")
    return table


def read_smiles_file(path: str, limit: int | None = MAX_MOLECULES,
                     max_bytes: int = MAX_SMILES_BYTES) -> pd.DataFrame:
    """:func:`parse_smiles_table` of a file: ``.csv`` (with a SMILES column) or text (``.smi``, ``.txt``)."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"SMILES file not found: {path!r}")
    if p.stat().st_size > max_bytes:
        raise ValueError(f"SMILES file too large: {path!r} (limit {max_bytes / 2**20:.0f} MB)")
    raw = p.read_bytes()
    if p.suffix.lower() == ".csv":
        return _check_empty(_from_frame(_read_csv(raw, "the SMILES file", max_bytes), "the SMILES file", limit))
    try:
        return _check_empty(_from_text(raw.decode("utf-8"), limit))
    except UnicodeDecodeError:
        raise ValueError(f"SMILES file is not UTF-8 text: {path!r}") from None


# ------------------------------------------------------------------------------------ prediction


@dataclass(eq=False)
class NewMoleculePredictions:
    """Predictions for the valid rows of an input table, aligned to it.

    Attributes:
        table: the :func:`parse_smiles_table` rows plus ``max_tanimoto``, ``nearest_compound`` and
            ``in_domain`` (NaN / None for invalid rows).
        valid: ``(n_valid,)`` positions (0-based) in ``table`` of the valid rows.
        cell_types: the ``T`` cell types predicted.
        genes: the ``g`` genes.
        values: ``(n_valid, T, g)`` float32 ensemble predictions (signed -log10 p).
        spread: ``(n_valid, T, g)`` float16 member spread (``|mlp - transformer|``; half precision
            is plenty for an uncertainty and halves the memory).
        nearest: for each valid row, the nearest training compounds as ``(name, tanimoto)``.
    """

    table: pd.DataFrame
    valid: np.ndarray
    cell_types: list[str]
    genes: tuple[str, ...]
    values: np.ndarray
    spread: np.ndarray
    nearest: list[list[tuple[str, float]]]

    @property
    def invalid(self) -> pd.DataFrame:
        """The invalid input rows: ``row, name, SMILES, reason``."""
        return self.table.loc[~self.table[OK], [ROW, NAME, SMILES, REASON]].reset_index(drop=True)

    def _t(self, cell_type: str) -> int:
        if cell_type not in self.cell_types:
            raise ValueError(f"unknown cell type {cell_type!r}; predicted: {', '.join(self.cell_types)}")
        return self.cell_types.index(cell_type)

    def _v(self, position: int) -> int:
        """Index into ``values`` of table row ``position``; ``ValueError`` for an invalid row."""
        hit = np.nonzero(self.valid == position)[0]
        if not len(hit):
            row = self.table.iloc[position]
            raise ValueError(f"row {row[ROW]} ({row[NAME]}) is not a valid molecule: {row[REASON]}")
        return int(hit[0])

    def long_frame(self, genes: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per valid molecule x cell type: ``row, name, SMILES, cell_type, max_tanimoto,
        nearest_compound`` then one float32 column per gene (all genes, or ``genes``)."""
        if genes is None:
            gi, gnames = np.arange(len(self.genes)), list(self.genes)
        else:
            gnames = resolve_genes(genes, self.genes)
            g2i = {g: i for i, g in enumerate(self.genes)}
            gi = np.array([g2i[g] for g in gnames])
        T = len(self.cell_types)
        meta = self.table.iloc[self.valid]
        frame = pd.DataFrame({
            ROW: np.repeat(meta[ROW].to_numpy(), T),
            NAME: np.repeat(meta[NAME].to_numpy(), T),
            SMILES: np.repeat(meta[SMILES].to_numpy(), T),
            CELL_TYPE: np.tile(np.asarray(self.cell_types, dtype=object), len(meta)),
            MAX_TANIMOTO: np.repeat(meta[MAX_TANIMOTO].to_numpy(dtype=np.float64), T),
            NEAREST: np.repeat(meta[NEAREST].to_numpy(), T),
        })
        vals = self.values[:, :, gi].reshape(len(meta) * T, len(gi))
        return pd.concat([frame, pd.DataFrame(vals, columns=gnames)], axis=1)

    def top_genes(self, position: int, cell_type: str, n: int = 15) -> pd.DataFrame:
        """The ``n`` most up- and ``n`` most down-regulated genes of one molecule in one cell type:
        ``gene, value, uncertainty, direction`` (up first, strongest first). Only positive values are
        listed as up and only negative values as down, so either list may be shorter than ``n``."""
        v = self.values[self._v(position), self._t(cell_type)]
        s = self.spread[self._v(position), self._t(cell_type)]
        order = np.argsort(v, kind="stable")
        up = [i for i in order[::-1][:n] if v[i] > 0]
        down = [i for i in order[:n] if v[i] < 0]
        idx = np.asarray(up + down, dtype=np.int64)
        return pd.DataFrame({
            "gene": np.asarray(self.genes, dtype=object)[idx],
            "value": v[idx],
            UNCERTAINTY: s[idx].astype(np.float32),
            "direction": ["up"] * len(up) + ["down"] * len(down),
        })

    def gene_values(self, genes: Sequence[str], cell_type: str) -> pd.DataFrame:
        """Values of ``genes`` in ``cell_type`` for every input row (NaN for invalid rows):
        ``row, name, ok`` then one column per gene."""
        gnames = resolve_genes(genes, self.genes)
        g2i = {g: i for i, g in enumerate(self.genes)}
        out = self.table[[ROW, NAME, OK]].copy()
        full = np.full((len(self.table), len(gnames)), np.nan, dtype=np.float32)
        full[self.valid] = self.values[:, self._t(cell_type)][:, [g2i[g] for g in gnames]]
        for j, g in enumerate(gnames):
            out[g] = full[:, j]
        return out

    def rank_among_known(self, cube: ValueCube, genes: str | Sequence[str], cell_type: str,
                         keep: str | Sequence[str] = (), keep_weight: float = KEEP_WEIGHT) -> pd.DataFrame:
        """Where each input molecule would rank among the known compounds of ``cube`` in ``cell_type``.

        The molecule's :func:`~scperturb_core.rank.target_score` (same genes, keep-set and weight) is
        compared with the known compounds' scores (measured or predicted values):
        ``rank_among_known = 1 + #(known scores > molecule score)``, out of ``n_known``;
        ``percentile`` = share of known compounds it beats or ties (100 = best).

        Returns:
            One row per input row (aligned; NaN for invalid rows): ``row, name, ok, score,
            rank_among_known, n_known, percentile, uncertainty, max_tanimoto, in_domain``.
        """
        known = rank_compounds(cube, genes, cell_type, keep=keep, keep_weight=keep_weight)
        targets = resolve_genes(genes, self.genes, what="genes")
        keeps = resolve_genes(keep, self.genes, what="keep genes", allow_empty=True)
        g2i = {g: i for i, g in enumerate(self.genes)}
        t = self._t(cell_type)
        ti, ki = [g2i[g] for g in targets], [g2i[g] for g in keeps]
        vals = self.values[:, t]
        scores = target_score(vals[:, ti], vals[:, ki], keep_weight)
        unc = self.spread[:, t][:, ti].astype(np.float32).mean(axis=1)
        known_scores = np.sort(known[SCORE].to_numpy())
        better = len(known_scores) - np.searchsorted(known_scores, scores, side="right")
        n_known = len(known_scores)
        out = self.table[[ROW, NAME, OK]].copy()
        cols = {SCORE: scores, RANK_AMONG_KNOWN: better + 1.0,
                PERCENTILE: 100.0 * (n_known - better) / max(n_known, 1), UNCERTAINTY: unc}
        for name, arr in cols.items():
            full = np.full(len(self.table), np.nan)
            full[self.valid] = arr
            out[name] = full
        out.insert(out.columns.get_loc(RANK_AMONG_KNOWN) + 1, N_KNOWN, n_known)
        out[MAX_TANIMOTO] = self.table[MAX_TANIMOTO]
        out[IN_DOMAIN] = self.table[IN_DOMAIN]
        return out


def _known_canonical(predictor: PredictorLike) -> dict[str, str]:
    """Canonical SMILES -> training compound name."""
    from .chem import parse_smiles_batch

    comp = predictor.compounds
    parsed = parse_smiles_batch(comp[SMILES].tolist())
    return {p.canonical: name for p, name in zip(parsed, comp[SM_NAME]) if p.ok}


def predict_smiles(predictor: PredictorLike, table: pd.DataFrame | str | bytes | Sequence[str],
                   cell_types: Sequence[str] | None = None, k_nearest: int = N_NEAREST,
                   ad_threshold: float = AD_THRESHOLD) -> NewMoleculePredictions:
    """Predict every gene in every cell type for the valid molecules of ``table``.

    Args:
        predictor: the trained ensemble (:class:`~scperturb_core.rank.PredictorLike`).
        table: a :func:`parse_smiles_table` result, or anything it accepts.
        cell_types: cell types to predict (default: all the predictor knows).
        k_nearest: nearest training compounds to report.
        ad_threshold: ``in_domain`` is ``max_tanimoto >= ad_threshold``.

    A molecule identical (same canonical SMILES) to a training compound is predicted as that
    compound (its name is passed to the predictor); others are predicted from structure alone.

    Returns:
        :class:`NewMoleculePredictions` aligned with the table's rows.

    Raises:
        ValueError: no valid molecule in the table, or an unknown cell type.
    """
    if not isinstance(table, pd.DataFrame) or OK not in table.columns:
        table = parse_smiles_table(table)
    table = table.reset_index(drop=True).copy()
    cts = list(predictor.cell_types) if cell_types is None else list(cell_types)
    unknown = [c for c in cts if c not in set(predictor.cell_types)]
    if unknown:
        raise ValueError(f"unknown cell type {unknown[0]!r}; the models know: {', '.join(predictor.cell_types)}")
    if not cts:
        raise ValueError("no cell types to predict")
    valid = np.nonzero(table[OK].to_numpy())[0]
    if not len(valid):
        first = table.iloc[0]
        raise ValueError(f"no valid SMILES among {len(table)} input(s); row {first[ROW]}: {first[REASON]}")
    smiles = table[CANONICAL].to_numpy()[valid].tolist()
    known = _known_canonical(predictor)
    names = [known.get(s) for s in smiles]
    n, T = len(valid), len(cts)
    pair_ct = [ct for _ in range(n) for ct in cts]
    pair_smiles = [s for s in smiles for _ in range(T)]
    pair_names = [nm for nm in names for _ in range(T)]
    values, spread = predict_with_spread(predictor, pair_ct, pair_smiles, pair_names)
    g = values.shape[1]
    nearest = predictor.nearest(smiles, k=k_nearest)
    max_sim = np.full(len(table), np.nan)
    near_name: list[str | None] = [None] * len(table)
    for pos, hits in zip(valid, nearest):
        if hits:
            best_name, best_sim = max(hits, key=lambda h: h[1])
            max_sim[pos] = float(best_sim)
            near_name[pos] = best_name
    table[MAX_TANIMOTO] = max_sim
    table[NEAREST] = near_name
    table[IN_DOMAIN] = pd.array([None if np.isnan(s) else bool(s >= ad_threshold) for s in max_sim],
                                dtype="boolean")
    log.info("predicted %d molecules x %d cell types (%d invalid rows)", n, T, len(table) - n)
    return NewMoleculePredictions(table=table, valid=valid, cell_types=cts, genes=tuple(predictor.genes),
                                  values=values.reshape(n, T, g), spread=spread.reshape(n, T, g).astype(np.float16),
                                  nearest=[list(h) for h in nearest])
