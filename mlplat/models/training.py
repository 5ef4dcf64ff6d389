"""Train one Model Pipeline from an example-set frame: split, decode, transform, fit, evaluate.

Everything a run needs is in ``TrainConfig`` (it is recorded in the Model
Repository and is what retraining re-runs). ``train_pipeline`` is pure: no
database, no MLflow; the model service saves the transformer and registers
the result.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError
from mlplat.features.transform_fit import fit_transform
from mlplat.features.transforms import Transformer
from mlplat.models.catalog import CLASSIFICATION, CLUSTERING, ModelKind, get_kind, infer_task
from mlplat.models.evaluate import EvaluationReport, curves_for, task_metrics
from mlplat.models.pipeline import InputSchema, ModelPipeline, Postprocess

Progress = Callable[[str, float], None]
SPLITS = ("random", "time")


@dataclass
class TrainConfig:
    """What to train: recorded with every registered version, re-run by retraining."""

    model: str = "xgboost"
    target: str | None = None
    features: list[str] | None = None  # None: every feature column of the example set
    session_features: list[str] = field(default_factory=list)  # inputs the caller sends (not in the store)
    params: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    split: str = "random"
    test_size: float = 0.2
    seed: int = 0
    threshold: float = 0.5
    top_k: int = 0
    id_map: dict[str, Any] = field(default_factory=dict)
    segments: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    transformer: str | None = None  # a saved transformer id; None: fit the default one for the model

    def __post_init__(self) -> None:
        get_kind(self.model)
        if self.split not in SPLITS:
            raise ValidationError(f"split must be one of {', '.join(SPLITS)}, not {self.split!r}")
        if not 0.0 < float(self.test_size) < 0.9:
            raise ValidationError(f"test_size must be between 0 and 0.9, not {self.test_size}")
        if self.features is not None and not isinstance(self.features, list):
            self.features = list(self.features)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class TrainResult:
    pipeline: ModelPipeline
    report: EvaluationReport
    config: TrainConfig
    rows_train: int
    rows_test: int
    fit_seconds: float
    seconds: float
    fitted_transformer: Transformer | None = None  # fitted here (not loaded): the service saves it

    @property
    def metrics(self) -> dict[str, float]:
        return self.report.metrics


@dataclass(frozen=True)
class ExampleLayout:
    """Which example-set columns are keys, label time, labels and store features (from its manifest)."""

    entity: tuple[str, ...] = ()
    timestamp: str | None = None
    label_columns: tuple[str, ...] = ()
    store_columns: tuple[str, ...] = ()
    set_versions: tuple[tuple[str, int], ...] = ()
    event_columns: tuple[str, ...] = ()  # ev<i>_<col>: the last N events attached per row (sequence models)

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> "ExampleLayout":
        return cls(
            tuple(manifest.get("entity") or ()),
            manifest.get("timestamp"),
            tuple(manifest.get("label_columns") or ()),
            tuple(c for f in manifest.get("features") or () for c in f["output_columns"]),
            tuple((f["name"], int(f["version"])) for f in manifest.get("features") or ()),
            tuple((manifest.get("events") or {}).get("output_columns") or ()),
        )


def check_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    have = [str(c) for c in frame.columns]
    for c in columns:
        if c not in have:
            hint = difflib.get_close_matches(c, have, n=1)
            raise ValidationError(
                f"{what} {c!r} is not a column of the example set" + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f"; columns: {', '.join(have[:30])}{' ...' if len(have) > 30 else ''}",
                column=c,
            )


def choose_features(frame: pd.DataFrame, config: TrainConfig, layout: ExampleLayout) -> list[str]:
    if config.features is not None:
        if not config.features:
            raise ValidationError("features is empty: name at least one input column (or leave it out for all)")
        check_columns(frame, config.features, "feature")
        if config.target in config.features:
            raise ValidationError(f"the target {config.target!r} cannot also be a feature")
        return list(config.features)
    skip = {*layout.entity, layout.timestamp, config.target}
    store = [c for c in layout.store_columns if c in frame.columns]
    session = [c for c in config.session_features if c not in store]
    events = [c for c in layout.event_columns if c in frame.columns and c not in session]
    chosen = [c for c in store + session + events if c not in skip]
    if not chosen:
        raise ValidationError("the example set has no feature columns to train on")
    return chosen


def split_rows(frame: pd.DataFrame, config: TrainConfig, layout: ExampleLayout) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of (train, test): a seeded shuffle, or the newest ``test_size`` by label time."""
    n = len(frame)
    n_test = max(1, int(round(n * float(config.test_size))))
    if n - n_test < 2:
        raise ValidationError(f"the example set has {n} usable rows: too few to hold out {config.test_size:.0%}")
    if config.split == "time":
        if not layout.timestamp or layout.timestamp not in frame.columns:
            raise ValidationError("a time split needs the example set's timestamp column; use split='random'")
        order = np.argsort(frame[layout.timestamp].to_numpy(), kind="stable")
    else:
        order = np.random.default_rng(config.seed).permutation(n)
    return np.sort(order[: n - n_test]), np.sort(order[n - n_test:])


def default_transformer_spec(schema: InputSchema, kind: ModelKind) -> list[dict[str, Any]]:
    """Fill (unless the model copes with missing values), scale (for linear models and k-means), one-hot text."""
    numeric = [f.name for f in schema.fields if f.type != "str"]
    text = [f.name for f in schema.fields if f.type == "str"]
    steps: list[dict[str, Any]] = []
    if numeric and not kind.handles_missing:
        steps.append({"op": "fill_missing", "columns": numeric, "strategy": "median"})
    if numeric and kind.needs_scaling:
        steps.append({"op": "scale", "columns": numeric, "method": "standard"})
    for c in text:
        steps.append({"op": "one_hot", "column": c, "max_categories": 20})
    return steps


def encode_target(y: pd.Series, task: str) -> tuple[np.ndarray | None, list[Any]]:
    if task == CLUSTERING:
        return None, []
    if task != CLASSIFICATION:
        return y.to_numpy(dtype=float), []
    classes = sorted(y.unique().tolist(), key=lambda v: (str(type(v)), v))
    index = {c: i for i, c in enumerate(classes)}
    return y.map(index).to_numpy(dtype=int), classes


def prepare(
    frame: pd.DataFrame, config: TrainConfig, layout: ExampleLayout
) -> tuple[pd.DataFrame, InputSchema, str, list[str]]:
    """Check the request against the frame: the usable rows, the input schema, the task and the feature columns."""
    if config.target is not None:
        check_columns(frame, [config.target], "target")
        frame = frame[frame[config.target].notna()].reset_index(drop=True)
        if frame.empty:
            raise ValidationError(f"target {config.target!r} is empty in every row")
    elif get_kind(config.model).tasks != (CLUSTERING,):
        raise ValidationError(f"{config.model} needs a target column (only kmeans trains without one)")
    features = choose_features(frame, config, layout)
    task = infer_task(frame[config.target] if config.target else None, config.model, config.task)
    unknown = [c for c in config.session_features if c not in features]
    if unknown:
        raise ValidationError(f"session feature(s) {unknown} are not among the features", columns=unknown)
    store = [c for c in features if c not in config.session_features and
             (c in layout.store_columns or "__" in c)]
    required = [c for c in config.session_features if c not in config.defaults]
    schema = InputSchema.infer(frame, features, entity=layout.entity, store_columns=store, required=required,
                               defaults=config.defaults, set_versions=dict(layout.set_versions))
    return frame, schema, task, features


def _epoch_progress(say: Progress, epochs: int) -> Callable[[dict[str, float]], None]:
    """A network's finished epochs as progress between fitting (0.2) and evaluating (0.9)."""
    def on_epoch(point: dict[str, float]) -> None:
        epoch = int(point["epoch"])
        say(f"epoch {epoch}/{epochs}: train loss {point['train_loss']:.4f}, validation loss {point['val_loss']:.4f}",
            0.2 + 0.7 * min(epoch / max(epochs, 1), 1.0))
    return on_epoch


def train_pipeline(
    frame: pd.DataFrame,
    config: TrainConfig,
    layout: ExampleLayout = ExampleLayout(),
    *,
    transformer: Transformer | None = None,
    progress: Progress | None = None,
    split: tuple[np.ndarray, np.ndarray] | None = None,
) -> TrainResult:
    """Fit ``config`` on ``frame``; evaluate on its holdout. ``split`` reuses given row positions (tuning)."""
    began = time.perf_counter()
    say = progress or (lambda message, fraction: None)
    frame, schema, task, features = prepare(frame, config, layout)
    kind = get_kind(config.model)
    train_idx, test_idx = split if split is not None else split_rows(frame, config, layout)
    say(f"decoding {len(frame)} rows", 0.05)
    decoded = schema.decode(frame)
    train_x, test_x = decoded.iloc[train_idx].reset_index(drop=True), decoded.iloc[test_idx].reset_index(drop=True)
    fitted = transformed = None
    if transformer is None:
        steps = default_transformer_spec(schema, kind)
        if steps:
            say("fitting the transformer", 0.1)
            transformer, transformed = fit_transform(steps, train_x)
            fitted = transformer
    if transformed is None:
        transformed = transformer.transform_pandas(train_x) if transformer is not None else train_x
    text = [c for c in transformed.columns if not pd.api.types.is_numeric_dtype(transformed[c])]
    if text:
        raise ValidationError(
            f"column(s) {text} are still text after the transformer: one-hot encode them or leave them out of features"
        )
    model_columns = [str(c) for c in transformed.columns]
    y, classes = encode_target(frame[config.target], task) if config.target else (None, [])
    estimator = kind.build(task, dict(config.params), config.seed)
    if kind.wants_columns:
        estimator.set_params(columns=tuple(model_columns))
    say(f"fitting {config.model} on {len(train_idx)} rows", 0.2)
    fit_began = time.perf_counter()
    x_train = transformed[model_columns].to_numpy(dtype=np.float64, na_value=np.nan)
    if y is None:
        estimator.fit(x_train)
    elif kind.epochs:
        estimator.fit(x_train, y[train_idx], on_epoch=_epoch_progress(say, int(estimator.max_epochs)))
    else:
        estimator.fit(x_train, y[train_idx])
    fit_seconds = time.perf_counter() - fit_began
    postprocess = Postprocess.for_task(task, classes, threshold=config.threshold, top_k=config.top_k,
                                       id_map=config.id_map, segments=config.segments)
    pipeline = ModelPipeline(schema, transformer, estimator, postprocess, task=task, model_columns=model_columns,
                             kind=config.model, target=config.target)
    say(f"evaluating on {len(test_idx)} held-out rows", 0.9)
    x_test = pipeline.matrix(test_x, decoded=True)
    raw = pipeline.raw(test_x, decoded=True) if len(x_test) == 0 else pipeline.score(x_test)  # one transform
    y_test = y[test_idx] if y is not None else None
    metrics = task_metrics(task, y_test, raw, x_test, estimator)
    curves = curves_for(task, y_test, raw, estimator, model_columns, config.segments, config.seed)
    report = EvaluationReport(task, metrics, len(test_idx), config.split, curves)
    pipeline = pipeline.with_examples(frame.iloc[test_idx].reset_index(drop=True))
    say("trained", 1.0)
    return TrainResult(pipeline, report, config, len(train_idx), len(test_idx), fit_seconds,
                       time.perf_counter() - began, fitted)


__all__ = [
    "ExampleLayout", "TrainConfig", "TrainResult", "check_columns", "default_transformer_spec", "prepare",
    "split_rows", "train_pipeline",
]
