"""The model catalog: which estimators exist, which tasks each fits, defaults and search spaces.

A model kind builds a fresh estimator from parameters. Every estimator here
follows scikit-learn's API (``fit``, ``predict``, ``predict_proba`` for
classifiers), which is what the pipeline's model stage calls. Search spaces are
data (``{"max_depth": [3, 6, 9], "learning_rate": {"low": 0.01, "high": 0.3,
"log": true}}``) so they travel over HTTP and into a study's metadata.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import numpy as np
import pandas as pd

from mlplat.errors import MissingDependency, ValidationError, require
from mlplat.models.deep import DEEP_KINDS, EXTRA, deep_available

CLASSIFICATION, REGRESSION, CLUSTERING = "classification", "regression", "clustering"
TASKS = (CLASSIFICATION, REGRESSION, CLUSTERING)
# The metric a search optimizes, per task, and whether larger is better.
PRIMARY_METRIC = {CLASSIFICATION: ("auc", True), REGRESSION: ("rmse", False), CLUSTERING: ("silhouette", True)}
MAX_CLASSES = 50  # an integer/string target with more distinct values than this is not a classification target


# -- search spaces ---------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One dimension: a list of choices, or a numeric range (``log`` for scale parameters)."""

    name: str
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    step: float | None = None

    @property
    def is_choice(self) -> bool:
        return bool(self.choices)

    def grid(self) -> list[Any]:
        """The values a grid search tries: the choices, or a range cut by ``step`` (5 points without one)."""
        if self.is_choice:
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.integer:
            step = int(self.step or max(1, math.ceil((self.high - self.low) / 4)))
            return list(range(int(self.low), int(self.high) + 1, step))
        if self.step:
            count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            return [round(self.low + i * self.step, 12) for i in range(count)]
        points = np.geomspace(self.low, self.high, 5) if self.log else np.linspace(self.low, self.high, 5)
        return [float(p) for p in points]

    def to_dict(self) -> Any:
        if self.is_choice:
            return list(self.choices)
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step:
            out["step"] = self.step
        return out


def parse_space(raw: dict[str, Any] | None, kind: "ModelKind") -> list[Param]:
    """Check a declared search space against the model's parameters; an empty space is an error."""
    if raw is None:
        raw = kind.space
    if not isinstance(raw, dict) or not raw:
        raise ValidationError(
            f"the search space for {kind.name} is empty: give at least one parameter, e.g. "
            f"{{'{next(iter(kind.space))}': {Param('', **_param_fields(next(iter(kind.space.values())))).to_dict()!r}}}"
        )
    params = []
    for name, spec in raw.items():
        if name not in kind.known_params:
            hint = difflib.get_close_matches(name, kind.known_params, n=1)
            raise ValidationError(
                f"{kind.name} has no parameter {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f"; it takes {', '.join(sorted(kind.known_params))}",
                parameter=name,
            )
        params.append(Param(name, **_param_fields(spec, name)))
    return params


def _param_fields(spec: Any, name: str = "") -> dict[str, Any]:
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValidationError(f"search space parameter {name!r} has no choices")
        return {"choices": tuple(spec)}
    if isinstance(spec, dict) and "low" in spec and "high" in spec:
        low, high = spec["low"], spec["high"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low >= high:
            raise ValidationError(f"search space parameter {name!r}: low and high must be numbers with low < high")
        if spec.get("log") and low <= 0:
            raise ValidationError(f"search space parameter {name!r}: a log range needs low > 0")
        integer = isinstance(low, int) and isinstance(high, int)
        return {"low": low, "high": high, "log": bool(spec.get("log")), "integer": integer, "step": spec.get("step")}
    raise ValidationError(
        f"search space parameter {name!r} must be a list of choices or {{'low': .., 'high': .., 'log': false}}, "
        f"not {spec!r}"
    )


# -- model kinds ------------------------------------------------------------------
@dataclass(frozen=True)
class ModelKind:
    name: str
    tasks: tuple[str, ...]
    description: str
    build_fn: Callable[[str, dict[str, Any], int], Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=dict)
    known_params: tuple[str, ...] = ()
    handles_missing: bool = False  # NaN inputs are fine (no imputation needed)
    needs_scaling: bool = False
    wants_columns: bool = False  # training passes the model matrix's column names (``columns``)
    epochs: bool = False  # ``fit`` takes ``on_epoch`` (a network): training reports each epoch as progress

    def build(self, task: str, params: dict[str, Any] | None = None, seed: int = 0) -> Any:
        if task not in self.tasks:
            raise ValidationError(
                f"{self.name} does not fit a {task} task; for {task} use {', '.join(models_for(task))}",
                model=self.name, task=task,
            )
        merged = {**self.defaults, **(params or {})}
        unknown = [p for p in merged if p not in self.known_params]
        if unknown:
            raise ValidationError(
                f"{self.name} has no parameter(s) {', '.join(map(repr, unknown))}; it takes "
                f"{', '.join(sorted(self.known_params))}",
            )
        return self.build_fn(task, merged, seed)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tasks": list(self.tasks), "description": self.description,
                "defaults": dict(self.defaults), "space": dict(self.space)}


def _xgboost(task: str, params: dict[str, Any], seed: int) -> Any:
    require("xgboost", "all")
    import xgboost as xgb

    common = {"tree_method": "hist", "random_state": seed, "n_jobs": params.pop("n_jobs", None), **params}
    if task == CLASSIFICATION:
        return xgb.XGBClassifier(eval_metric="logloss", **common)
    return xgb.XGBRegressor(**common)


def _random_forest(task: str, params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if task == CLASSIFICATION else RandomForestRegressor
    return cls(random_state=seed, n_jobs=params.pop("n_jobs", None) or -1, **params)


def _logistic(task: str, params: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(random_state=seed, **params)


def _linear(task: str, params: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LinearRegression, Ridge

    alpha = params.pop("alpha", 0.0)
    return Ridge(alpha=alpha, random_state=seed, **params) if alpha else LinearRegression(**params)


def _kmeans(task: str, params: dict[str, Any], seed: int) -> Any:
    from sklearn.cluster import KMeans

    return KMeans(random_state=seed, n_init=params.pop("n_init", 4), **params)


def _deep(task: str, params: dict[str, Any], seed: int, sequence: bool) -> Any:
    require("torch", EXTRA)
    from mlplat.models.deep import estimator as deep

    if sequence:
        cls = deep.SequenceClassifier if task == CLASSIFICATION else deep.SequenceRegressor
    else:
        cls = deep.MLPClassifier if task == CLASSIFICATION else deep.MLPRegressor
    return cls(random_state=seed, **params)


_NET_PARAMS = ("hidden", "layers", "dropout", "embedding_dim", "lr", "weight_decay", "batch_size", "max_epochs",
               "patience", "validation_fraction", "checkpoint_dir", "device", "columns")
_NET_SPACE = {"hidden": [32, 64, 128], "layers": {"low": 1, "high": 3}, "dropout": {"low": 0.0, "high": 0.4},
              "lr": {"low": 1e-4, "high": 1e-2, "log": True}, "batch_size": [128, 256, 512]}
DEEP_CATALOG: dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        ModelKind(
            "mlp", (CLASSIFICATION, REGRESSION),
            "tabular MLP with embeddings for categorical columns (PyTorch)",
            partial(_deep, sequence=False),
            defaults={"hidden": 64, "layers": 2, "max_epochs": 30, "patience": 3},
            space=dict(_NET_SPACE), known_params=_NET_PARAMS, needs_scaling=True, wants_columns=True, epochs=True,
        ),
        ModelKind(
            "sequence_gru", (CLASSIFICATION, REGRESSION),
            "GRU over a user's last N events (example sets built with events) beside a tabular MLP (PyTorch)",
            partial(_deep, sequence=True),
            defaults={"hidden": 64, "layers": 1, "gru_hidden": 32, "max_epochs": 30, "patience": 3},
            space={**_NET_SPACE, "gru_hidden": [16, 32, 64]}, known_params=(*_NET_PARAMS, "gru_hidden"),
            needs_scaling=True, wants_columns=True, epochs=True,
        ),
    )
}
assert tuple(DEEP_CATALOG) == DEEP_KINDS

CATALOG: dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        ModelKind(
            "xgboost", (CLASSIFICATION, REGRESSION), "gradient-boosted trees (XGBoost, hist)", _xgboost,
            defaults={"n_estimators": 200, "max_depth": 6, "learning_rate": 0.1},
            space={"n_estimators": {"low": 50, "high": 400}, "max_depth": {"low": 2, "high": 8},
                   "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
                   "min_child_weight": {"low": 0.5, "high": 20.0, "log": True},
                   "subsample": {"low": 0.5, "high": 1.0}},
            known_params=("n_estimators", "max_depth", "learning_rate", "min_child_weight", "subsample",
                          "colsample_bytree", "reg_lambda", "reg_alpha", "gamma", "n_jobs", "max_bin"),
            handles_missing=True,
        ),
        ModelKind(
            "random_forest", (CLASSIFICATION, REGRESSION), "random forest (scikit-learn)", _random_forest,
            defaults={"n_estimators": 200, "min_samples_leaf": 5},
            space={"n_estimators": {"low": 50, "high": 300}, "max_depth": [None, 6, 10, 16],
                   "min_samples_leaf": {"low": 1, "high": 50, "log": True}, "max_features": ["sqrt", 0.5, 1.0]},
            known_params=("n_estimators", "max_depth", "min_samples_leaf", "max_features", "n_jobs",
                          "min_samples_split", "class_weight"),
        ),
        ModelKind(
            "logistic", (CLASSIFICATION,), "logistic regression (scikit-learn, L2)", _logistic,
            defaults={"C": 1.0, "max_iter": 1000},
            space={"C": {"low": 1e-3, "high": 100.0, "log": True}},
            known_params=("C", "max_iter", "class_weight", "tol"),
            needs_scaling=True,
        ),
        ModelKind(
            "linear", (REGRESSION,), "linear regression (ridge when alpha > 0)", _linear,
            defaults={},
            space={"alpha": {"low": 1e-4, "high": 100.0, "log": True}},
            known_params=("alpha", "fit_intercept"),
            needs_scaling=True,
        ),
        ModelKind(
            "kmeans", (CLUSTERING,), "k-means clustering (scikit-learn)", _kmeans,
            defaults={"n_clusters": 4},
            space={"n_clusters": {"low": 2, "high": 10}},
            known_params=("n_clusters", "n_init", "max_iter", "tol"),
            needs_scaling=True,
        ),
    )
}


if deep_available():  # without torch the deep kinds are not listed; asking for one names the extra (get_kind)
    CATALOG.update(DEEP_CATALOG)


def get_kind(name: str) -> ModelKind:
    kind = CATALOG.get(name)
    if kind is None and name in DEEP_CATALOG:
        raise MissingDependency("torch", EXTRA)
    if kind is None:
        hint = difflib.get_close_matches(str(name), list(CATALOG), n=1)
        raise ValidationError(
            f"unknown model {name!r}; the catalog has {', '.join(CATALOG)}"
            + (f"; did you mean {hint[0]!r}?" if hint else ""),
            model=name,
        )
    return kind


def models_for(task: str) -> list[str]:
    return [k.name for k in CATALOG.values() if task in k.tasks]


def infer_task(target: pd.Series | None, model: str, task: str | None = None) -> str:
    """The task a (target, model) pair means; a model that does not fit the target is an error naming both."""
    kind = get_kind(model)
    if task is not None and task not in TASKS:
        raise ValidationError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
    if target is None:
        found = task or CLUSTERING
    elif task is not None:
        found = task
    else:
        values = target.dropna()
        distinct = values.nunique()
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        integral = numeric and bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
        found = CLASSIFICATION if not numeric or (integral and distinct <= 20) else REGRESSION
        if found == CLASSIFICATION and distinct > MAX_CLASSES:
            raise ValidationError(
                f"target {target.name!r} has {distinct} distinct values: too many classes for classification "
                f"(at most {MAX_CLASSES})", target=str(target.name),
            )
    if found not in kind.tasks:
        what = {CLASSIFICATION: "a categorical target", REGRESSION: "a numeric target", CLUSTERING: "no target"}[found]
        raise ValidationError(
            f"{model} does not fit this task: {'target ' + repr(target.name) if target is not None else 'the data'} "
            f"means {found} ({what}); for {found} use {', '.join(models_for(found))}",
            model=model, task=found,
        )
    if found == CLASSIFICATION and target is not None and target.dropna().nunique() < 2:
        raise ValidationError(f"target {target.name!r} has a single class: nothing to learn", target=str(target.name))
    return found


__all__ = [
    "CATALOG", "CLASSIFICATION", "CLUSTERING", "DEEP_CATALOG", "ModelKind", "PRIMARY_METRIC", "Param", "REGRESSION",
    "TASKS", "get_kind", "infer_task", "models_for", "parse_space",
]
