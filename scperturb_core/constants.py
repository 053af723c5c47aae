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
ENV_DATA_DIR = "SCPERTURB_DATA_DIR"  # the only folder the app's File path box may read (default: that of SCPERTURB_DATA)
ENV_WARMUP = "SCPERTURB_WARMUP"  # "0" turns off the background warm-up of the app server

# --- limits on user input ---
MAX_UPLOAD_MB = 300

# --- AnnData (.h5ad) files of the OpenProblems perturbation-prediction benchmark ---
SPLIT = "split"  # optional obs column of de_train.h5ad / de_test.h5ad
LAYER_SIGN_LOG10_PVAL = "sign_log10_pval"  # the Kaggle values; the default layer to read
LAYER_CLIPPED = "clipped_sign_log10_pval"  # clipped to +-4: the benchmark's default truth
LAYER_X = "X"  # pseudo layer name for the AnnData's main matrix
LAYER_PREDICTION = "prediction"  # the prediction file's layer
UNS_DATASET_ID = "dataset_id"
UNS_METHOD_ID = "method_id"
BENCHMARK_DATASET_ID = "neurips-2023-data"
# the "simulated values" marker carried by files that demo-data writes
MARK_SIMULATED = "scperturb.simulated"  # parquet key-value metadata key (value "true")
MARK_DATASET = "scperturb.dataset"  # parquet key-value metadata key (dataset name)
UNS_SIMULATED = "scperturb_simulated"  # h5ad uns key (bool)
UNS_DATASET_NAME = "dataset_name"
