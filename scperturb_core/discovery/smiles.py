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

from ..constants import CELL_TYPE, SM_NAME, SMILES
from ..genes import resolve_genes
from .rank import (
    BY_CONFIDENCE, CALL, CANDIDATE, HIT, INTERVAL_LEVEL, KEEP_WEIGHT, MEASURED, PREDICTED,
    SCORE, SCORE_LOWER, SCORE_UPPER, SIGNIFICANCE, SOURCE, SOURCE_NAMES, UNCERTAINTY, WRONG_WAY, PredictorLike,
    ValueCube, interval_label, noise_level, predict_with_interval, rank_compounds, target_score, z_value,
)

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
KNOWN = "known_compound"  # the screen compound a molecule is (same structure, salts stripped), or None
LOWER_SUFFIX = "_lower"
UPPER_SUFFIX = "_upper"
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
    from ..chem import parse_smiles_batch

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
    """Predictions (or measured values) for the valid rows of an input table, aligned to it.

    Attributes:
        table: the :func:`parse_smiles_table` rows plus ``known_compound`` (the screen compound the
            molecule is, salts stripped; None for a new molecule), ``max_tanimoto``,
            ``nearest_compound`` and ``in_domain`` (NaN / None for invalid rows).
        valid: ``(n_valid,)`` positions (0-based) in ``table`` of the valid rows.
        cell_types: the ``T`` cell types.
        genes: the ``g`` genes.
        values: ``(n_valid, T, g)`` float32 values (signed -log10 p): measured where ``source`` is
            :data:`~scperturb_core.discovery.rank.MEASURED` (a known compound measured in that cell type), the
            ensemble prediction otherwise.
        below, above: ``(n_valid, T, g)`` float16 distances from ``values`` down to the interval's
            lower bound and up to its upper bound at ``level`` (measured: ``z * noise_sd``; predicted:
            the calibrated interval, or the uncalibrated member spread); half precision is plenty for
            a width and halves the memory. :attr:`lower` / :attr:`upper` give the bounds.
        source: ``(n_valid, T)`` int8, MEASURED or PREDICTED.
        nearest: for each valid row, the nearest training compounds as ``(name, tanimoto)``.
        calibrated: whether the predicted intervals are calibrated (None: nothing was predicted).
        level: the intervals' coverage.
    """

    table: pd.DataFrame
    valid: np.ndarray
    cell_types: list[str]
    genes: tuple[str, ...]
    values: np.ndarray
    below: np.ndarray
    above: np.ndarray
    source: np.ndarray
    nearest: list[list[tuple[str, float]]]
    calibrated: bool | None = None
    level: float = INTERVAL_LEVEL

    @property
    def spread(self) -> np.ndarray:
        """``(n_valid, T, g)`` float32 interval widths (``upper - lower``)."""
        return self.below.astype(np.float32) + self.above

    @property
    def lower(self) -> np.ndarray:
        """``(n_valid, T, g)`` float32 lower interval bounds."""
        return self.values - self.below

    @property
    def upper(self) -> np.ndarray:
        """``(n_valid, T, g)`` float32 upper interval bounds."""
        return self.values + self.above

    @property
    def interval(self) -> str:
        """How the intervals were made (:func:`~scperturb_core.discovery.rank.interval_label`)."""
        return interval_label(self.calibrated, self.level)

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

    def long_frame(self, genes: Sequence[str] | None = None, intervals: bool = True) -> pd.DataFrame:
        """One row per valid molecule x cell type: ``row, name, SMILES, known_compound, cell_type,
        source, max_tanimoto, nearest_compound``, one float32 column per gene (all genes, or
        ``genes``), then (``intervals``) ``<gene>_lower`` and ``<gene>_upper`` for each gene."""
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
            KNOWN: np.repeat(meta[KNOWN].to_numpy(), T),
            CELL_TYPE: np.tile(np.asarray(self.cell_types, dtype=object), len(meta)),
            SOURCE: [SOURCE_NAMES[int(x)] for x in self.source.reshape(-1)],
            MAX_TANIMOTO: np.repeat(meta[MAX_TANIMOTO].to_numpy(dtype=np.float64), T),
            NEAREST: np.repeat(meta[NEAREST].to_numpy(), T),
        })
        n = len(meta) * T
        blocks = [frame, pd.DataFrame(self.values[:, :, gi].reshape(n, len(gi)), columns=gnames)]
        if intervals:
            v = self.values[:, :, gi]
            for arr, suffix in ((v - self.below[:, :, gi], LOWER_SUFFIX), (v + self.above[:, :, gi], UPPER_SUFFIX)):
                blocks.append(pd.DataFrame(arr.reshape(n, len(gi)).astype(np.float32),
                                           columns=[g + suffix for g in gnames]))
        return pd.concat(blocks, axis=1)

    def top_genes(self, position: int, cell_type: str, n: int = 15) -> pd.DataFrame:
        """The ``n`` most up- and ``n`` most down-regulated genes of one molecule in one cell type:
        ``gene, value, lower, upper, uncertainty, direction`` (up first, strongest first;
        ``uncertainty`` = half the interval width). Only positive values are listed as up and only
        negative values as down, so either list may be shorter than ``n``."""
        i, t = self._v(position), self._t(cell_type)
        v = self.values[i, t]
        order = np.argsort(v, kind="stable")
        up = [j for j in order[::-1][:n] if v[j] > 0]
        down = [j for j in order[:n] if v[j] < 0]
        idx = np.asarray(up + down, dtype=np.int64)
        lo = v[idx] - self.below[i, t][idx]
        hi = v[idx] + self.above[i, t][idx]
        return pd.DataFrame({
            "gene": np.asarray(self.genes, dtype=object)[idx],
            "value": v[idx],
            "lower": lo,
            "upper": hi,
            UNCERTAINTY: (hi - lo) / 2,
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

    def measured_values(self) -> pd.DataFrame:
        """The known compounds' pairs: ``row, name, known_compound, cell_type, source`` for every valid
        row that matched a screen compound (measured and predicted cell types both listed)."""
        rows = []
        for i, pos in enumerate(self.valid):
            known = self.table.iloc[pos][KNOWN]
            if not isinstance(known, str):
                continue
            for t, ct in enumerate(self.cell_types):
                rows.append({ROW: self.table.iloc[pos][ROW], NAME: self.table.iloc[pos][NAME], KNOWN: known,
                             CELL_TYPE: ct, SOURCE: SOURCE_NAMES[int(self.source[i, t])]})
        return pd.DataFrame(rows, columns=[ROW, NAME, KNOWN, CELL_TYPE, SOURCE])

    def rank_among_known(self, cube: ValueCube, genes: str | Sequence[str], cell_type: str,
                         keep: str | Sequence[str] = (), keep_weight: float = KEEP_WEIGHT,
                         by: str = BY_CONFIDENCE, threshold: float = SIGNIFICANCE) -> pd.DataFrame:
        """Where each input molecule would rank among the known compounds of ``cube`` in ``cell_type``.

        The molecule's score and interval are computed exactly as
        :func:`~scperturb_core.discovery.rank.rank_compounds` does (same genes, keep-set, weight and
        threshold) and compared on the ranking's key (``score_lower`` for ``by="confidence"``,
        ``score`` for ``by="estimate"``) with the known compounds':
        ``rank_among_known = 1 + #(known keys > molecule key)``, out of ``n_known``;
        ``percentile`` = share of known compounds it beats or ties (100 = best).

        Returns:
            One row per input row (aligned; NaN for invalid rows): ``row, name, ok, known_compound,
            source, score, score_lower, score_upper, call, rank_among_known, n_known, percentile,
            uncertainty, max_tanimoto, in_domain``.
        """
        known = rank_compounds(cube, genes, cell_type, keep=keep, keep_weight=keep_weight, by=by,
                               threshold=threshold)
        targets = resolve_genes(genes, self.genes, what="genes")
        keeps = resolve_genes(keep, self.genes, what="keep genes", allow_empty=True)
        g2i = {g: i for i, g in enumerate(self.genes)}
        t = self._t(cell_type)
        ti, ki = [g2i[g] for g in targets], [g2i[g] for g in keeps]
        vals = self.values[:, t]
        scores = target_score(vals[:, ti], vals[:, ki], keep_weight)
        penalty = -scores - vals[:, ti].mean(axis=1)
        t_lo = (vals[:, ti] - self.below[:, t][:, ti]).mean(axis=1)
        t_hi = (vals[:, ti] + self.above[:, t][:, ti]).mean(axis=1)
        t_mean = vals[:, ti].mean(axis=1)
        s_lo, s_hi = -t_hi - penalty, -t_lo - penalty
        hit = (t_mean <= -threshold) & (t_hi < 0)
        call = np.where(hit, HIT, np.where(t_mean < 0, CANDIDATE, WRONG_WAY))
        key_col, mine = (SCORE_LOWER, s_lo) if by == BY_CONFIDENCE else (SCORE, scores)
        known_keys = np.sort(known[key_col].to_numpy())
        better = len(known_keys) - np.searchsorted(known_keys, mine, side="right")
        n_known = len(known_keys)
        out = self.table[[ROW, NAME, OK, KNOWN]].copy()
        src = np.full(len(self.table), None, dtype=object)
        src[self.valid] = [SOURCE_NAMES[int(x)] for x in self.source[:, t]]
        out[SOURCE] = src
        cols = {SCORE: scores, SCORE_LOWER: s_lo, SCORE_UPPER: s_hi}
        for name, arr in cols.items():
            full = np.full(len(self.table), np.nan)
            full[self.valid] = arr
            out[name] = full
        calls = np.full(len(self.table), None, dtype=object)
        calls[self.valid] = call
        out[CALL] = calls
        for name, arr in {RANK_AMONG_KNOWN: better + 1.0,
                          PERCENTILE: 100.0 * (n_known - better) / max(n_known, 1),
                          UNCERTAINTY: (t_hi - t_lo) / 2}.items():
            full = np.full(len(self.table), np.nan)
            full[self.valid] = arr
            out[name] = full
        out.insert(out.columns.get_loc(RANK_AMONG_KNOWN) + 1, N_KNOWN, n_known)
        out[MAX_TANIMOTO] = self.table[MAX_TANIMOTO]
        out[IN_DOMAIN] = self.table[IN_DOMAIN]
        return out


def structure_key(mol) -> tuple[str, str] | None:
    """``(canonical SMILES, InChIKey)`` of a molecule after salt stripping and neutralisation (the
    largest organic fragment, charges neutralised where possible: RDKit ``rdMolStandardize``)."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem.MolStandardize import rdMolStandardize

    if mol is None:
        return None
    RDLogger.DisableLog("rdApp.*")
    try:
        parent = rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose(mol)
        parent = rdMolStandardize.Uncharger().uncharge(parent)
        return Chem.MolToSmiles(parent), Chem.MolToInchiKey(parent)
    except (ValueError, RuntimeError):
        return Chem.MolToSmiles(mol), ""


def match_known(mols: Sequence, compounds: pd.DataFrame) -> list[str | None]:
    """For each RDKit molecule, the ``sm_name`` of the compound in ``compounds`` (columns ``sm_name``,
    ``SMILES``) with the same structure -- same canonical SMILES or same InChIKey after
    :func:`structure_key` (salts stripped, neutralised) -- or None."""
    from ..chem import parse_smiles_batch

    by_smiles: dict[str, str] = {}
    by_key: dict[str, str] = {}
    parsed = parse_smiles_batch(compounds[SMILES].tolist())
    for p, name in zip(parsed, compounds[SM_NAME]):
        key = structure_key(p.mol) if p.ok else None
        if key is None:
            continue
        by_smiles.setdefault(key[0], name)
        if key[1]:
            by_key.setdefault(key[1], name)
    out: list[str | None] = []
    for m in mols:
        key = structure_key(m)
        out.append(None if key is None else by_smiles.get(key[0]) or (by_key.get(key[1]) if key[1] else None))
    return out


def predict_smiles(predictor: PredictorLike, table: pd.DataFrame | str | bytes | Sequence[str],
                   cell_types: Sequence[str] | None = None, k_nearest: int = N_NEAREST,
                   ad_threshold: float = AD_THRESHOLD, cube: ValueCube | None = None,
                   level: float = INTERVAL_LEVEL) -> NewMoleculePredictions:
    """Values of every gene in every cell type for the valid molecules of ``table``.

    Args:
        predictor: the trained ensemble (:class:`~scperturb_core.discovery.rank.PredictorLike`).
        table: a :func:`parse_smiles_table` result, or anything it accepts.
        cell_types: cell types to report (default: all the predictor knows).
        k_nearest: nearest training compounds to report.
        ad_threshold: ``in_domain`` is ``max_tanimoto >= ad_threshold``.
        cube: the dataset's values; when given, a molecule that **is** a screen compound (same
            canonical SMILES or InChIKey, salts stripped: :func:`match_known`) gets the dataset's
            measured values in the cell types where it was measured (``source`` MEASURED, interval
            ``+- z * noise_sd``); only its other cell types are predicted.
        level: coverage of the intervals.

    A molecule identical to a training compound of the predictor is predicted as that compound (its
    name is passed to the predictor); others are predicted from structure alone.

    Returns:
        :class:`NewMoleculePredictions` aligned with the table's rows.

    Raises:
        ValueError: no valid molecule in the table, or an unknown cell type.
    """
    from ..chem import parse_smiles_batch

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
    mols = [p.mol for p in parse_smiles_batch(smiles)]
    names = match_known(mols, predictor.compounds)
    screen = match_known(mols, cube.compounds) if cube is not None else [None] * len(valid)
    n, T = len(valid), len(cts)
    g = len(predictor.genes)
    values = np.empty((n, T, g), dtype=np.float32)
    below = np.empty((n, T, g), dtype=np.float16)
    above = np.empty((n, T, g), dtype=np.float16)
    source = np.full((n, T), PREDICTED, dtype=np.int8)
    if cube is not None:
        z = np.float32(z_value(level))
        noise = noise_level(cube.measured, predictor) if cube.noise_sd is None else cube.noise_sd
        c_of = {nm: i for i, nm in enumerate(cube.compounds[SM_NAME])}
        for i, nm in enumerate(screen):
            if nm is None:
                continue
            for t, ct in enumerate(cts):
                if ct in cube.cell_types:
                    c, tt = c_of[nm], cube.cell_types.index(ct)
                    if cube.source[c, tt] == MEASURED:
                        v = cube.measured[cube.row[c, tt]]
                        values[i, t], below[i, t], above[i, t] = v, z * noise, z * noise
                        source[i, t] = MEASURED
    todo = np.argwhere(source == PREDICTED)
    calibrated = None
    if len(todo):
        pv, plo, phi, calibrated = predict_with_interval(
            predictor, [cts[t] for _, t in todo], [smiles[i] for i, _ in todo],
            [names[i] for i, _ in todo], level=level)
        values[todo[:, 0], todo[:, 1]] = pv
        below[todo[:, 0], todo[:, 1]] = pv - plo
        above[todo[:, 0], todo[:, 1]] = phi - pv
    nearest = predictor.nearest(smiles, k=k_nearest)
    max_sim = np.full(len(table), np.nan)
    near_name: list[str | None] = [None] * len(table)
    for pos, hits in zip(valid, nearest):
        if hits:
            best_name, best_sim = max(hits, key=lambda h: h[1])
            max_sim[pos] = float(best_sim)
            near_name[pos] = best_name
    known_col: list[str | None] = [None] * len(table)
    for pos, nm, own in zip(valid, screen, names):
        known_col[pos] = nm or own
    table[KNOWN] = known_col
    table[MAX_TANIMOTO] = max_sim
    table[NEAREST] = near_name
    table[IN_DOMAIN] = pd.array([None if np.isnan(s) else bool(s >= ad_threshold) for s in max_sim],
                                dtype="boolean")
    log.info("%d molecules x %d cell types: %d pairs measured, %d predicted (%d invalid rows)", n, T,
             int((source == MEASURED).sum()), len(todo), len(table) - n)
    return NewMoleculePredictions(table=table, valid=valid, cell_types=cts, genes=tuple(predictor.genes),
                                  values=values, below=below, above=above, source=source,
                                  nearest=[list(h) for h in nearest], calibrated=calibrated, level=level)
