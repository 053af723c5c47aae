"""Ranking on hand-built data with exact expected orders; the reversal score on a constructed case."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scperturb_core.constants import CELL_TYPE, CONTROL, SM_LINCS_ID, SM_NAME, SMILES
from scperturb_core.data import PerturbData
from scperturb_core.discovery.rank import (
    BY_ESTIMATE, MEASURED, PREDICTED, ValueCube, build_cube, connectivity, enrichment_score, rank_compounds,
    reversal_scores, split_hits, target_score, z_value,
)
from tests.discovery_pages import real_models  # noqa: F401  (fixture)
from tests.fake_predictor import FakePredictor, LegacyFakePredictor

Z80 = 1.2815515655446004  # two-sided 80% normal quantile

B, NK = "B cells", "NK cells"
SMI = {"A": "CCO", "B": "CCN", "C": "CCC", "D": "c1ccccc1"}


def make_data(rows: list[tuple[str, str, list[float]]], genes: tuple[str, ...]) -> PerturbData:
    obs = pd.DataFrame({
        CELL_TYPE: [r[0] for r in rows], SM_NAME: [r[1] for r in rows], SM_LINCS_ID: [f"L-{r[1]}" for r in rows],
        SMILES: [SMI[r[1]] for r in rows], CONTROL: False,
    })
    X = np.array([r[2] for r in rows], dtype=np.float32)
    import hashlib

    return PerturbData(obs=obs, X=X, genes=genes, name="hand-built", key=hashlib.sha256(X.tobytes()).hexdigest()[:16])


GENES = ("G1", "G2", "KEEP1")
# B cells: A and B measured, C and D predicted (fake lookup); NK: all measured
ROWS = [
    (NK, "A", [-3.0, 0.0, 0.0]),
    (NK, "B", [-1.0, 0.0, 2.0]),
    (NK, "C", [1.0, 0.0, 0.0]),
    (NK, "D", [-2.0, 0.0, 0.0]),
    (B, "A", [-1.0, -1.0, 0.0]),
    (B, "B", [-4.0, 0.0, 4.0]),
]
TABLE = {(B, SMI["C"]): [-2.0, 1.0, 0.0], (B, SMI["D"]): [-0.5, -0.5, 1.0]}


@pytest.fixture()
def hand():
    data = make_data(ROWS, GENES)
    pred = FakePredictor(GENES, [B, NK], data.compounds, TABLE, offset=0.25)
    return data, pred, build_cube(data, pred)


def test_cube_predicts_only_missing_pairs(hand):
    data, pred, cube = hand
    assert sorted((c, s) for c, s, _ in pred.calls) == [(B, SMI["C"]), (B, SMI["D"])]
    assert sorted(n for _, _, n in pred.calls) == ["C", "D"]  # known compounds are passed by name
    assert cube.counts() == {"missing": 0, "measured": 6, "predicted": 2}
    assert cube.cell_types == [B, NK]
    np.testing.assert_array_equal(cube.profile("C", B), TABLE[(B, SMI["C"])])
    np.testing.assert_array_equal(cube.profile("A", NK), [-3.0, 0.0, 0.0])
    spread = cube.take([0, 1, 2], "spread")
    assert spread[cube.source == MEASURED].max() == 0.0
    np.testing.assert_allclose(spread[cube.source == PREDICTED], 0.5)
    assert cube.calibrated is True and "calibrated model interval" in cube.interval
    # measured: value +- z * noise_sd (0.25); predicted: the model's interval (+- 0.25)
    lo, hi = cube.take([0], "lower")[..., 0], cube.take([0], "upper")[..., 0]
    a, c = 0, 2  # compounds A (measured in B cells) and C (predicted)
    np.testing.assert_allclose([lo[a, 0], hi[a, 0]], [-1.0 - 0.25 * Z80, -1.0 + 0.25 * Z80], rtol=1e-6)
    np.testing.assert_allclose([lo[c, 0], hi[c, 0]], [-2.25, -1.75])
    np.testing.assert_allclose(cube.take([0], "sd")[a, 0], 0.25)


def test_z_value():
    assert z_value(0.8) == pytest.approx(Z80)
    assert z_value(0.9) == pytest.approx(1.6448536)
    with pytest.raises(ValueError, match="interval level must be between 0 and 1, got 1.5"):
        z_value(1.5)


def test_rank_single_gene_exact_order(hand):
    _, _, cube = hand
    out = rank_compounds(cube, "g1", B)
    assert out[SM_NAME].tolist() == ["B", "C", "A", "D"]
    np.testing.assert_allclose(out["score"], [4.0, 2.0, 1.0, 0.5])
    h = 0.25 * Z80  # measured half-width
    np.testing.assert_allclose(out["score_lower"], [4.0 - h, 1.75, 1.0 - h, 0.25], rtol=1e-6)
    np.testing.assert_allclose(out["score_upper"], [4.0 + h, 2.25, 1.0 + h, 0.75], rtol=1e-6)
    assert out["source"].tolist() == ["measured", "predicted", "measured", "predicted"]
    np.testing.assert_allclose(out["uncertainty"], [h, 0.25, h, 0.25], rtol=1e-6)
    # B -4 and C -2 are below -1.3 with the whole interval below 0; A -1 and D -0.5 are not significant
    assert out["call"].tolist() == ["hit", "hit", "candidate", "candidate"]
    from scipy.special import ndtr
    np.testing.assert_allclose(out["p_down"], ndtr(np.array([16.0, 2.0 / (0.25 / Z80), 4.0, 0.5 / (0.25 / Z80)])),
                               rtol=1e-5)
    assert out["rank"].tolist() == [1, 2, 3, 4]
    assert list(out.columns[:16]) == ["rank", SM_NAME, CELL_TYPE, "score", "score_lower", "score_upper", "call",
                                      "source", "p_down", "target_mean", "target_lower", "target_upper",
                                      "keep_mean_abs", "uncertainty", SMILES, "G1"]
    assert out["G1"].tolist() == [-4.0, -2.0, -1.0, -0.5]


def _same_estimate_case(pred_value: float):
    """B cells: A measured at -2 on G1 (noise 0.25 -> +-0.32); C predicted at ``pred_value`` (+-1.0)."""
    rows = [(B, "A", [-2.0, 0.0, 0.0]), (NK, "C", [0.0, 0.0, 0.0])]
    data = make_data(rows, GENES)
    pred = FakePredictor(GENES, [B, NK], data.compounds, {(B, SMI["C"]): [pred_value, 0.0, 0.0]}, half=1.0)
    return build_cube(data, pred)


def test_measured_hit_outranks_a_predicted_pair_with_the_same_estimate_and_a_wider_interval():
    cube = _same_estimate_case(-2.0)
    for by in ("confidence", BY_ESTIMATE):
        out = rank_compounds(cube, "G1", B, by=by)
        assert out[SM_NAME].tolist() == ["A", "C"], by
        np.testing.assert_allclose(out["score"], [2.0, 2.0])
        np.testing.assert_allclose(out["score_lower"], [2.0 - 0.25 * Z80, 1.0], rtol=1e-6)
        assert out["call"].tolist() == ["hit", "hit"]
    # a slightly better but much less certain prediction: first by estimate, second by confidence
    cube = _same_estimate_case(-2.1)
    assert rank_compounds(cube, "G1", B)[SM_NAME].tolist() == ["A", "C"]
    assert rank_compounds(cube, "G1", B, by=BY_ESTIMATE)[SM_NAME].tolist() == ["C", "A"]


def test_threshold_and_nothing_meets_it(hand):
    _, _, cube = hand
    out = rank_compounds(cube, "G1", B, threshold=5.0)
    hits, closest = split_hits(out)
    assert hits.empty and closest[SM_NAME].tolist() == ["B", "C", "A", "D"]
    up = rank_compounds(cube, "KEEP1", B)  # KEEP1 goes up or stays: B +4, D +1 -> wrong way
    assert up.set_index(SM_NAME)["call"].to_dict() == {"B": "wrong way", "D": "wrong way", "A": "wrong way",
                                                       "C": "wrong way"}
    assert split_hits(up)[0].empty and split_hits(up)[1].empty
    with pytest.raises(ValueError, match="significance threshold must be >= 0, got -1"):
        rank_compounds(cube, "G1", B, threshold=-1)
    with pytest.raises(ValueError, match="unknown ranking mode 'best'"):
        rank_compounds(cube, "G1", B, by="best")


def test_legacy_models_fall_back_to_an_uncalibrated_spread(hand):
    data, _, _ = hand
    pred = LegacyFakePredictor(GENES, [B, NK], data.compounds, TABLE, offset=0.25)
    cube = build_cube(data, pred)
    assert cube.calibrated is False and "UNCALIBRATED" in cube.interval
    out = rank_compounds(cube, "G1", B).set_index(SM_NAME)
    np.testing.assert_allclose(out.loc["C", ["score_lower", "score_upper"]].astype(float), [1.75, 2.25])
    from scperturb_core.models.uncertainty import measurement_noise
    np.testing.assert_allclose(cube.noise_sd, measurement_noise(data.X))  # from the data, no noise_sd


def test_rank_with_keep_set_and_two_genes(hand):
    _, _, cube = hand
    out = rank_compounds(cube, ["G1"], B, keep=["KEEP1"])
    # B: 4 - 4 = 0; C: 2 - 0; A: 1 - 0; D: 0.5 - 1 = -0.5
    assert out[SM_NAME].tolist() == ["C", "A", "B", "D"]
    np.testing.assert_allclose(out["score"], [2.0, 1.0, 0.0, -0.5])
    np.testing.assert_allclose(out["score_lower"], [1.75, 1.0 - 0.25 * Z80, -0.25 * Z80, -0.75], rtol=1e-6)
    half = rank_compounds(cube, ["G1"], B, keep=["KEEP1"], keep_weight=0.5)
    np.testing.assert_allclose(half.set_index(SM_NAME)["score"]["B"], 2.0)
    two = rank_compounds(cube, "G1 G2", B)
    # means of (G1, G2): A -1, B -2, C -0.5, D -0.5 -> C/D tie on both bounds -> by name
    assert two[SM_NAME].tolist() == ["B", "A", "C", "D"]
    np.testing.assert_allclose(two["score"], [2.0, 1.0, 0.5, 0.5])


def test_rank_all_cell_types_and_top(hand):
    _, _, cube = hand
    out = rank_compounds(cube, "G1", None, top=3)
    assert list(zip(out[SM_NAME], out[CELL_TYPE])) == [("B", B), ("A", NK), ("C", B)]
    assert len(rank_compounds(cube, "G1")) == 8


def test_rank_errors_name_the_bad_value(hand):
    _, _, cube = hand
    with pytest.raises(ValueError, match="unknown gene: 'G9'"):
        rank_compounds(cube, "G9", B)
    with pytest.raises(ValueError, match="unknown cell type 'T cells'"):
        rank_compounds(cube, "G1", "T cells")
    with pytest.raises(ValueError, match="both to push down and to keep unchanged: G1"):
        rank_compounds(cube, "G1", B, keep="g1")


def test_measured_only_cube_and_gene_mismatch(hand):
    data, _, _ = hand
    cube = build_cube(data, None)
    assert cube.counts()["missing"] == 2
    assert rank_compounds(cube, "G1", B)[SM_NAME].tolist() == ["B", "A"]
    other = FakePredictor(("G1", "G2"), [B, NK], data.compounds)
    with pytest.raises(ValueError, match="the model predicts 2 genes but the data has 3"):
        build_cube(data, other)


def test_target_score_formula():
    t = np.array([[-2.0, -4.0], [1.0, 1.0]])
    k = np.array([[1.0, -3.0], [0.0, 0.0]])
    np.testing.assert_allclose(target_score(t, k, 0.5), [3.0 - 0.5 * 2.0, -1.0])
    np.testing.assert_allclose(target_score(t, None), [3.0, -1.0])


# ------------------------------------------------------------------------------------ reversal

SIG_GENES = ("g0", "g1", "g2", "g3", "g4", "g5")
PROFILES = {  # signature: up = g0, g1; down = g4, g5
    "A": [-3.0, -2.0, 0.1, 0.0, 2.0, 3.0],   # perfect reverser: reversal +1
    "B": [3.0, 2.0, 0.1, 0.0, -2.0, -3.0],   # mimics the disease: -1
    "C": [-3.0, 1.0, 0.0, 0.5, 2.0, -1.0],   # partial reverser: 17/24 (worked by hand in the docstring test)
    "D": [3.0, 1.0, -1.0, -2.0, 2.0, 0.5],   # both lists up: ES_up 3/4, ES_down 0.55 (same sign): 0
}


def test_enrichment_score_by_hand():
    # profile A; up set (g0, g1) at ranks 6 and 5 with weights 3, 2; n = 6, t = 2, miss step 1/4
    es = enrichment_score(np.array([[6, 5]]), np.array([[-3.0, -2.0]]), 6)
    np.testing.assert_allclose(es, [-1.0])
    es = enrichment_score(np.array([[1, 2]]), np.array([[3.0, 2.0]]), 6)
    np.testing.assert_allclose(es, [1.0])
    # profile C, up set: g1 rank 2 (w 1), g0 rank 6 (w 3): before-hit minimum 1/4 - 1 = -3/4
    np.testing.assert_allclose(enrichment_score(np.array([[6, 2]]), np.array([[3.0, 1.0]]), 6), [-0.75])
    # profile C, down set: g4 rank 1 (w 2), g5 rank 5 (w 1): after-hit maximum 2/3
    np.testing.assert_allclose(enrichment_score(np.array([[1, 5]]), np.array([[2.0, 1.0]]), 6), [2 / 3])


def test_connectivity_rule():
    np.testing.assert_allclose(connectivity(np.array([0.5, 0.5, -0.4]), np.array([-0.3, 0.2, 0.6])),
                               [0.4, 0.0, -0.5])
    np.testing.assert_allclose(connectivity(np.array([0.5]), np.array([0.0]), has_down=False), [0.5])
    np.testing.assert_allclose(connectivity(np.array([0.0]), np.array([0.5]), has_up=False), [-0.5])


def test_reversal_exact_order():
    rows = [(B, name, vals) for name, vals in PROFILES.items()]
    data = make_data(rows, SIG_GENES)
    cube = build_cube(data, None)
    out = reversal_scores(cube, up="g0 g1", down=["G4", "g5"], cell_types=B)
    assert out[SM_NAME].tolist() == ["A", "C", "D", "B"]
    np.testing.assert_allclose(out["score"], [1.0, 17 / 24, 0.0, -1.0], atol=1e-6)
    es = out.set_index(SM_NAME)[["es_up", "es_down", "strength"]].astype(float)
    np.testing.assert_allclose(es.loc["C"], [-0.75, 2 / 3, 17 / 24], atol=1e-6)
    # D: both lists up -> connectivity 0 by CLUE's rule; its tie key is the unclipped -(0.75 - 0.55) / 2
    np.testing.assert_allclose(es.loc["D"], [0.75, 0.55, -0.1], atol=1e-6)
    assert (out["score_lower"] <= out["score"]).all() and (out["score"] <= out["score_upper"]).all()
    assert out["score_lower"].between(-1, 1).all() and out["score_upper"].between(-1, 1).all()
    again = reversal_scores(cube, up="g0 g1", down=["G4", "g5"], cell_types=B)
    pd.testing.assert_frame_equal(out, again)  # seeded
    none = reversal_scores(cube, up="g0 g1", down=["G4", "g5"], cell_types=B, draws=0)
    np.testing.assert_array_equal(none["score_lower"], none["score"])
    np.testing.assert_array_equal(none["uncertainty"], 0.0)
    only_up = reversal_scores(cube, up="g0 g1", cell_types=B)
    assert only_up[SM_NAME].tolist()[0] == "A" and only_up["score"].iloc[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="both the up and the down list: g0"):
        reversal_scores(cube, up="g0", down="g0")
    with pytest.raises(ValueError, match="at least one"):
        reversal_scores(cube)


def test_reversal_on_predicted_profiles_matches_measured(tiny):
    """A cube whose values are all predicted ranks exactly like the same values measured."""
    cube = build_cube(tiny, None)
    pred_cube = ValueCube(compounds=cube.compounds, cell_types=cube.cell_types, genes=cube.genes,
                          measured=np.zeros((0, tiny.n_genes), np.float32), predicted=tiny.X,
                          spread=np.zeros_like(tiny.X), source=np.where(cube.source == MEASURED, PREDICTED, 0).astype(np.int8),
                          row=cube.row)
    up, down = list(tiny.genes[:5]), list(tiny.genes[5:9])
    a = reversal_scores(cube, up, down, "NK cells")
    b = reversal_scores(pred_cube, up, down, "NK cells")
    np.testing.assert_allclose(a["score"], b["score"])
    assert a[SM_NAME].tolist() == b[SM_NAME].tolist()
    assert (b["source"] == "predicted").all()


def test_predict_with_spread_batches_and_single_member(tiny):
    from scperturb_core.discovery.rank import predict_with_spread

    pred = FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds, offset=0.25)
    cts = ["B cells", "NK cells", "B cells"]
    smi = ["CCO", "CCN", "c1ccccc1"]
    v1, s1 = predict_with_spread(pred, cts, smi, batch=1)
    v2, s2 = predict_with_spread(pred, cts, smi)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_allclose(s1, 0.5)
    pred.predict_members = lambda c, s, n=None: {"only": pred.predict(c, s, n)}
    assert predict_with_spread(pred, cts, smi)[1].max() == 0.0
    with pytest.raises(ValueError, match="3 cell types but 2 SMILES"):
        predict_with_spread(pred, cts, smi[:2])


def test_weighted_members_equal_the_real_ensemble(real_models):
    """The legacy path's values are the real Predictor.predict (the stack, not the member mix), and
    spread = |mlp - transformer|."""
    from scperturb_core.discovery.rank import predict_with_spread

    _, pred, _ = real_models
    cts = ["B cells", "Myeloid cells", "NK cells"]
    smi = ["CC(=O)Oc1ccccc1C(=O)O", pred.compounds[SMILES].iloc[0], "c1ccccc1O"]
    values, spread = predict_with_spread(pred, cts, smi)
    np.testing.assert_allclose(values, pred.predict(cts, smi), rtol=1e-4, atol=1e-5)
    members = pred.predict_members(cts, smi)
    np.testing.assert_allclose(spread, np.abs(members["mlp"] - members["transformer"]), rtol=1e-5, atol=1e-6)


def test_ranks_and_ties():
    rows = [(B, "A", [3.0, 1.0, 1.0, -2.0]), (B, "B", [0.0, 0.0, 0.0, 0.0])]
    cube = build_cube(make_data(rows, ("a", "b", "c", "d")), None)
    np.testing.assert_array_equal(cube.ranks(MEASURED, np.array([0, 1]), np.array([0, 1, 2, 3])),
                                  [[1, 2, 2, 4], [1, 1, 1, 1]])
    # a flat profile: the set genes take the top positions one after another -> ES = +1 at the first genes
    np.testing.assert_allclose(enrichment_score(np.array([[1, 1]]), np.array([[0.0, 0.0]]), 4), [1.0])


def test_unstacked_predictor_uses_the_labelled_fallback(tiny):
    """A predictor with the method but no calibrated intervals (stacked False) is not treated as calibrated."""
    from scperturb_core.discovery.rank import has_intervals

    pred = FakePredictor(tiny.genes, tiny.cell_types, tiny.compounds, offset=0.25)
    assert has_intervals(pred)
    pred.stacked = False
    assert not has_intervals(pred)
