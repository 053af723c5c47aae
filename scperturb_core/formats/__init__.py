"""File formats beyond the Kaggle parquet: the OpenProblems AnnData (``.h5ad``) files, the
"simulated values" marker that files written by ``demo-data`` carry, and the provenance of outputs.

* :mod:`.h5ad` reads ``de_train.h5ad`` / ``de_test.h5ad`` and writes the benchmark's files;
* :mod:`.marker` the simulated-values marker (parquet key-value metadata, h5ad ``uns``);
* :mod:`.score` the benchmark's metrics on a truth file and a prediction file;
* :mod:`.export` app downloads as ``.h5ad`` bytes;
* :mod:`.provenance` where a number came from: the columns every exported table carries.
"""
