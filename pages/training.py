"""Train models: the default models of the dataset, your own training run beside the baselines, saved models."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages.common import Keys, require_data, simulated_badge
from scperturb_core import warmup
from scperturb_core.data import PerturbData
from scperturb_core.models.checkpoint import ModelDirError
from scperturb_core.models.features import FeatureConfig
from scperturb_core.models.networks import MLPConfig, TransformerConfig
from scperturb_core.models.predictor import (Predictor, default_model_dir, ensure_default_models, list_model_dirs,
                                             saved_model_dir, train_ensemble)
from scperturb_core.models.train import MODEL_CHOICES, History, ModelSpec, TrainConfig
from scperturb_core.validation.baselines import BASELINE_NAMES
from scperturb_core.validation.evaluate import (READOUT, Task, default_model_table, score_baselines, score_predictor,
                                                tasks_for, validation_tables)

COLORS = {"mlp": "#2a6f97", "transformer": "#e76f51"}
HIDDEN_CHOICES = (32, 64, 128, 256, 512)
LR_CHOICES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
CURVES_NOTE = ("Dashed: training loss (dropout on); solid: validation. A star marks the epoch kept; epoch 0 is the "
               "untrained network, i.e. the readout alone, kept when no epoch of training improved validation.")
#: redraw the live loss curves at most this often (seconds)
REDRAW_S = 0.5


@dataclass
class TrainingRun:
    """One training run of this session: what was trained, where it was scored, the results."""

    task: str
    spec: ModelSpec
    predictor: Predictor
    results: pd.DataFrame


def loss_figure(histories: dict[str, History], height: int = 320) -> go.Figure:
    """Train (dashed) and validation (solid) MRRMSE per epoch, one colour per model (the seed's Figure 10)."""
    fig = go.Figure()
    for kind, hist in histories.items():
        epochs = list(range(1, len(hist.train_loss) + 1))
        color = COLORS.get(kind, "#555")
        fig.add_scatter(x=epochs, y=hist.train_loss, name=f"{kind} train", mode="lines",
                        line=dict(color=color, dash="dash"))
        if any(not math.isnan(v) for v in hist.val_loss):
            x, y = epochs, list(hist.val_loss)
            if not math.isnan(hist.initial_val_loss):
                x, y = [0, *x], [hist.initial_val_loss, *y]
            fig.add_scatter(x=x, y=y, name=f"{kind} validation", mode="lines", line=dict(color=color))
            best = hist.initial_val_loss if hist.best_epoch == 0 else hist.val_loss[hist.best_epoch - 1]
            fig.add_scatter(x=[hist.best_epoch], y=[best], mode="markers",
                            marker=dict(color=color, size=9, symbol="star"), name=f"{kind} kept")
    fig.update_layout(height=height, margin=dict(t=10, b=10), xaxis_title="epoch", yaxis_title="loss (MRRMSE)",
                      legend=dict(orientation="h", y=-0.25))
    return fig


def _score_table(table: pd.DataFrame) -> pd.DataFrame:
    """Add each column's ratio to the best baseline (lower is better everywhere)."""
    out = table.copy()
    baselines = [m for m in out.index if m in BASELINE_NAMES]
    for col in table.columns:
        best = out.loc[baselines, col].min() if baselines else float("nan")
        out[f"{col} / best baseline"] = out[col] / best
    return out


def _request(key: str) -> None:
    """Button callback: remember the request in the session (it survives an extra rerun)."""
    st.session_state[key] = True


def _progress(bar):
    def report(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)
    return report


def _live_curves(placeholder):
    """An ``on_epoch`` callback redrawing the loss curves of all models trained so far."""
    state: dict = {"hist": {}, "drawn": 0.0}

    def on_epoch(kind: str, epoch: int, hist: History) -> None:
        state["hist"][kind] = hist
        now = time.monotonic()
        if now - state["drawn"] >= REDRAW_S:
            state["drawn"] = now
            placeholder.plotly_chart(loss_figure(state["hist"]), width="stretch", key=f"live-{kind}-{epoch}")
    return on_epoch


@st.cache_resource(show_spinner=False, max_entries=2)
def _default_models(key: str, _data: PerturbData) -> Predictor:
    """The default models of a dataset, loaded (or trained) once per server process."""
    return ensure_default_models(_data)


def _stamp(data: PerturbData) -> float:
    """When the default models of ``data`` were written (so a retrained model gets a new table)."""
    manifest = default_model_dir(data) / "manifest.json"
    return manifest.stat().st_mtime if manifest.exists() else 0.0


@st.cache_data(show_spinner="Scoring the default models...", max_entries=4)
def _default_table(key: str, model_dir: str, stamp: float, _data: PerturbData, _pred: Predictor) -> pd.DataFrame:
    """:func:`default_model_table`, computed once per dataset and model."""
    return default_model_table(_data, _pred)


# ----------------------------------------------------------------------------------------- sections


def default_models_section(data: PerturbData) -> None:
    st.caption("The default predictor: a non-negative stack over the baselines, the readout and the MLP and "
               "Transformer, with every choice (epochs, weights, new-compound shrinkage, intervals) made on "
               "shift-true folds -- B/Myeloid rows of compounds measured there, held out while their T/NK rows "
               "stay. Trained once per dataset on first use and cached on disk; the Rank and Predict pages use it.")
    if warmup.jobs().get(warmup.models_key(data)) is not None:
        # the server's background warm-up is training (or has trained) them: follow that job, never
        # start a second training of the same models
        from pages.predictor_ui import get_predictor

        pred = get_predictor(data)
        if pred is None:
            return
        _default_models_view(data, pred)
        return
    try:
        target = default_model_dir(data)
        if (target / "manifest.json").exists():
            with st.spinner("Loading the default models..."):
                pred = _default_models(data.key, data)
        else:
            with st.status("Training the default models (first use of this dataset)...", expanded=True) as status:
                bar = st.progress(0.0, text="starting")
                pred = ensure_default_models(data, on_progress=_progress(bar))
                status.update(label="Default models trained and cached", state="complete", expanded=False)
    except ValueError as exc:
        st.error(f"Default models unavailable: {str(exc).splitlines()[0]}", icon=":material/error:")
        return
    _default_models_view(data, pred)


def _default_models_view(data: PerturbData, pred: Predictor) -> None:
    info = pred.info
    cols = st.columns(4)
    cols[0].metric("Training rows", f"{info.get('n_rows', data.n_rows):,}")
    cols[1].metric("Shift-true validation rows", f"{info.get('n_val_rows', 0):,}")
    cols[2].metric("Weights (" + " / ".join(pred.weights) + ")", " / ".join(f"{w:.2f}" for w in pred.weights.values()))
    seconds = info.get("feature_seconds", 0.0) + sum(info.get("train_seconds", {}).values()) + info.get("cv_seconds", 0.0)
    cols[3].metric("Training time", f"{seconds:.1f} s")
    _validation_section(pred)
    st.plotly_chart(loss_figure(pred.histories), width="stretch", key="default-curves")
    st.caption("Training loss of the final networks, trained on every row for the number of epochs chosen on the "
               "shift-true folds (" + ", ".join(f"{k} {e}" for k, e in info.get("epochs", {}).items()) + ").")
    try:
        table = _default_table(data.key, str(default_model_dir(data)), _stamp(data), data, pred)
    except ValueError as exc:
        st.error(str(exc).splitlines()[0], icon=":material/error:")
        return
    st.markdown("**MRRMSE** (lower is better; the seed's Table 2 with the baselines beside the models)")
    st.dataframe(_score_table(table).style.format("{:.4f}"), width="stretch")
    st.caption(f"Shift-true CV: out-of-fold rows of the shift-true folds (the stack cross-fitted). {READOUT!r} is "
               "the closed-form per-cell-type map both networks build on. Saved in the cache folder for this dataset.")


def _validation_section(pred: Predictor) -> None:
    """The shift-true validation of the default predictor: scores, stack weights, fallback, coverage."""
    tables = validation_tables(pred)
    if tables["message"]:
        st.warning(tables["message"], icon=":material/info:")
    if tables["cv"].empty:
        return
    st.markdown("**Shift-true validation** (out-of-fold rows; MRRMSE lower is better, ranking higher is better; "
                "the compound-mean row is the plain compound-mean ranking)")
    st.dataframe(tables["cv"].style.format("{:.4f}", na_rep="-"), width="stretch")
    c1, c2 = st.columns(2)
    c1.markdown("**Stack weights** per target cell type (`*`: the others)")
    c1.dataframe(tables["weights"].style.format("{:.3f}"), width="stretch")
    c2.markdown("**Interval coverage** (cross-fitted; the target is the interval's level)")
    if not tables["coverage"].empty:
        c2.dataframe(tables["coverage"].style.format("{:.1%}", na_rep="-"), width="stretch")
    new = tables["new_compound"]
    if new and new.get("ratio") is not None:
        factors = new.get("factors") or []
        if any(factors):
            c2.caption(f"New molecules: {new.get('member')} shrunk towards the cell-type mean by similarity "
                       f"(factors {factors}: {new.get('safety', 1):g} x the fitted ones, kept because they beat the "
                       f"cell-type mean in every leave-compounds-out fold); cross-fitted {new['ratio']:.3f} x the "
                       "cell-type mean.")
        else:
            c2.caption("New molecules: predicted as the cell-type mean (no model correction beat it in every "
                       "leave-compounds-out fold).")


def train_section(data: PerturbData) -> None:
    try:
        tasks = tasks_for(data, family="all")
    except ValueError as exc:
        st.error(str(exc).splitlines()[0], icon=":material/error:")
        return
    names = [t.name for t in tasks]
    st.session_state.setdefault(Keys.TRAIN_MODELS, "ensemble")
    st.session_state.setdefault(Keys.TRAIN_EPOCHS, TrainConfig().epochs)
    st.session_state.setdefault(Keys.TRAIN_HIDDEN, MLPConfig().hidden)
    st.session_state.setdefault(Keys.TRAIN_LR, TrainConfig().lr)
    st.session_state.setdefault(Keys.TRAIN_COMPONENTS, FeatureConfig().n_components)
    if st.session_state.get(Keys.TRAIN_TASK) not in names:
        st.session_state[Keys.TRAIN_TASK] = names[-1]
    c1, c2, c3 = st.columns(3)
    model = c1.selectbox("Model", MODEL_CHOICES, key=Keys.TRAIN_MODELS)
    epochs = c2.number_input("Most epochs", min_value=1, max_value=2000, step=10, key=Keys.TRAIN_EPOCHS,
                             help="Training stops early when the validation loss stops improving.")
    components = c3.number_input("Gene components (k)", min_value=2, max_value=512, step=8,
                                 key=Keys.TRAIN_COMPONENTS, help="Size of the low-rank output basis.")
    c4, c5, c6 = st.columns(3)
    hidden = c4.select_slider("Hidden width", HIDDEN_CHOICES, key=Keys.TRAIN_HIDDEN)
    lr = c5.select_slider("Learning rate", LR_CHOICES, key=Keys.TRAIN_LR, format_func=lambda v: f"{v:g}")
    task_name = c6.selectbox("Score on", names, key=Keys.TRAIN_TASK,
                             help="A shift-true fold (B/Myeloid rows of some compounds leave, their T/NK rows "
                                  "stay), a held-out cell type (its non-shared compounds leave the training rows), "
                                  "or the id_map rows when their values are known.")
    st.button("Train", type="primary", icon=":material/model_training:", on_click=_request, args=(Keys.TRAIN_PENDING,))
    if st.session_state.pop(Keys.TRAIN_PENDING, False):
        task = tasks[names.index(task_name)]
        spec = ModelSpec(model=model, features=FeatureConfig(n_components=int(components)),
                         mlp=MLPConfig(hidden=int(hidden)),
                         transformer=replace(TransformerConfig(), hidden=int(hidden)),
                         train=TrainConfig(epochs=int(epochs), lr=float(lr), patience=min(40, int(epochs))))
        _run(data, task, spec)
    run = st.session_state.get(Keys.TRAIN_RESULT)
    if run is not None and run[0] == data.key:
        _show_run(run[1])


def _run(data: PerturbData, task: Task, spec: ModelSpec) -> None:
    with st.status(f"Training {spec.model} on {len(task.obs)} rows; scoring on {task.name}...",
                   expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        curves = st.empty()
        try:
            pred = train_ensemble(task.obs, task.X, data.genes, spec, on_progress=_progress(bar),
                                  on_epoch=_live_curves(curves))
            rows = score_baselines(task, data.genes) + score_predictor(task, pred)
        except ValueError as exc:
            status.update(label="Training failed", state="error")
            st.error(str(exc).splitlines()[0], icon=":material/error:")
            return
        curves.empty()
        status.update(label=f"Trained {spec.model}; scored on {task.name}", state="complete", expanded=False)
    st.session_state[Keys.TRAIN_RESULT] = (data.key, TrainingRun(task.name, spec, pred, pd.DataFrame(rows)))


def _show_run(run: TrainingRun) -> None:
    st.plotly_chart(loss_figure(run.predictor.histories), width="stretch", key="run-curves")
    st.caption(CURVES_NOTE)
    res = run.results.set_index("method")
    table = pd.DataFrame({f"MRRMSE ({run.task})": res["mrrmse"], "row-wise Pearson": res["pearson"],
                          "train s": res["seconds"]})
    best = res.loc[res["family"] == "baseline", "mrrmse"].min()
    table.insert(1, "/ best baseline", res["mrrmse"] / best)
    st.markdown(f"**Scores on {run.task}** ({int(res['rows'].iloc[0])} rows; models trained without them)")
    st.dataframe(table.style.format("{:.4f}"), width="stretch")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    name = c1.text_input("Save these models as", key=Keys.TRAIN_SAVE_NAME, placeholder="my-model")
    c2.button("Save", icon=":material/save:", on_click=_request, args=(Keys.TRAIN_SAVE_PENDING,))
    if st.session_state.pop(Keys.TRAIN_SAVE_PENDING, False):
        try:
            path = run.predictor.save(saved_model_dir(name.strip()))
        except ValueError as exc:
            st.error(str(exc).splitlines()[0], icon=":material/error:")
        else:
            st.success(f"Saved as {path.name!r}; load it on the Saved models tab.")


def saved_section(data: PerturbData) -> None:
    dirs = list_model_dirs()
    if not dirs:
        st.info("No saved models yet.")
        return
    labels = {str(p): (f"default models of dataset {p.name}" if p.parent.name == "models" else p.name) for p in dirs}
    choice = st.selectbox("Model folder", list(labels), format_func=lambda p: labels[p], key=Keys.TRAIN_LOAD_DIR)
    st.button("Load", icon=":material/folder_open:", on_click=_request, args=(Keys.TRAIN_LOAD_PENDING,))
    if st.session_state.pop(Keys.TRAIN_LOAD_PENDING, False):
        try:
            st.session_state[Keys.TRAIN_LOADED] = (choice, Predictor.load(choice))
        except ModelDirError as exc:
            st.session_state.pop(Keys.TRAIN_LOADED, None)
            st.error(str(exc).splitlines()[0], icon=":material/error:")
    loaded = st.session_state.get(Keys.TRAIN_LOADED)
    if loaded is None:
        return
    path, pred = loaded
    st.write(f"**{labels.get(path, path)}**: {', '.join(pred.members)}; {len(pred.genes):,} genes, "
             f"{len(pred.cell_types)} cell types, {len(pred.compounds)} training compounds; weights "
             + ", ".join(f"{k} {w:.2f}" for k, w in pred.weights.items()))
    if pred.genes != data.genes:
        st.warning("This model was trained on a different gene list than the active dataset.")
    st.plotly_chart(loss_figure(pred.histories), width="stretch", key="loaded-curves")
    val = pred.info.get("val_mrrmse")
    if val:
        st.dataframe(pd.DataFrame({"validation MRRMSE": val}).style.format("{:.4f}"), width="stretch")


# ----------------------------------------------------------------------------------------- page

st.title("Train models")
data = require_data()
simulated_badge(data)
tab_default, tab_train, tab_saved = st.tabs(["Default models", "Train & compare", "Saved models"])
with tab_default:
    default_models_section(data)
with tab_train:
    train_section(data)
with tab_saved:
    saved_section(data)
