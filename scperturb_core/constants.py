"""Names used across the project: column names, cell types, defaults.

Everything that is a *name* lives here so that no other module spells a column as a string literal.
Gene names are never constants: they come from the data.
"""
from __future__ import annotations

# --- de_train.parquet / id_map.csv columns (Kaggle schema) ---
CELL_TYPE = "cell_type"
SM_NAME = "sm_name"
SM_LINCS_ID = "sm_lincs_id"
SMILES = "SMILES"
CONTROL = "control"
ID = "id"

#: metadata columns of de_train.parquet, in file order; gene columns follow them.
META_COLUMNS: tuple[str, ...] = (CELL_TYPE, SM_NAME, SM_LINCS_ID, SMILES, CONTROL)
#: columns of id_map.csv
ID_MAP_COLUMNS: tuple[str, ...] = (ID, CELL_TYPE, SM_NAME)

# --- the screen's cell types (the loader accepts any others) ---
B_CELLS = "B cells"
MYELOID = "Myeloid cells"
NK_CELLS = "NK cells"
T_CD4 = "T cells CD4+"
T_CD8 = "T cells CD8+"
T_REG = "T regulatory cells"
CELL_TYPES: tuple[str, ...] = (B_CELLS, MYELOID, NK_CELLS, T_CD4, T_CD8, T_REG)

# --- defaults used by the UI and the CLI ---
DEFAULT_GENE = "CD69"
DEFAULT_TARGET_CELL_TYPE = B_CELLS
DEMO = "demo"  # the dataset spec that selects the embedded demo

# --- environment variables ---
ENV_DATA = "SCPERTURB_DATA"  # path of a de_train.parquet the app opens by default
ENV_CACHE = "SCPERTURB_CACHE"  # where the demo and trained models are cached
ENV_WARMUP = "SCPERTURB_WARMUP"  # "0" turns off the background warm-up of the app server

# --- limits on user input ---
MAX_UPLOAD_MB = 300
