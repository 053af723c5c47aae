"""From values to decisions: compounds ranked for chosen genes, and predictions for new molecules.

* :mod:`.rank` -- the value cube (measured where measured, predicted elsewhere), scores on one scale
  with intervals, signature reversal;
* :mod:`.smiles` -- new molecules given as SMILES: parsing, applicability domain, predictions and
  where each would rank among the known compounds.

:func:`predictor_module` loads :mod:`scperturb_core.models.predictor` on demand (it pulls in torch),
turning its absence into a one-line error.
"""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def predictor_module() -> ModuleType:
    """:mod:`scperturb_core.models.predictor`, or ``ValueError`` with one line when it is missing."""
    name = importlib.util.resolve_name("..models.predictor", __package__)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name in (name, name.rpartition(".")[0]):
            raise ValueError(f"prediction models are not available ({name} is missing)") from None
        raise
