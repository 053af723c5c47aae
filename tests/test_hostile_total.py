"""The hostile corpora together: at least 300 distinct bad inputs, each with its own expected message
(asserted by the test module of its corpus)."""
from __future__ import annotations

from pathlib import Path

from tests.hostile.cli_args import CLI_CASES
from tests.hostile.model_dirs import MODEL_CASES
from tests.hostile.uploads import CASES, WARN_CASES

SMILES_CORPUS = Path(__file__).parent / "data" / "hostile_smiles.py"


def _smiles() -> list:
    namespace: dict = {}
    exec(compile(SMILES_CORPUS.read_text(encoding="utf-8"), str(SMILES_CORPUS), "exec"), namespace)  # noqa: S102
    return [text for text, expected, _ in namespace["HOSTILE"] if expected != "ok"]


def test_at_least_300_distinct_bad_inputs():
    corpora = {
        "dataset and id_map files": [c.name for c in CASES],
        "normalised with a note": [c.name for c in WARN_CASES],
        "model folders": [c.name for c in MODEL_CASES],
        "command lines": [c.argv for c in CLI_CASES],
        "SMILES": _smiles(),
    }
    for name, items in corpora.items():
        assert len(items) == len(set(map(repr, items))), f"{name}: duplicated inputs"
    total = sum(len(items) for items in corpora.values())
    assert total >= 300, {k: len(v) for k, v in corpora.items()}
