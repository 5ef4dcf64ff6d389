"""AutoML: pick features, try each catalog model that fits the task within a time budget, report a leaderboard.

One holdout (``split_rows``) serves every candidate and the baseline, and no
choice looks at it: features are chosen on train rows, each model is tuned
on a validation split carved from train (``tune``), and the winner is the
best validation score. The holdout then scores the winner (refit on the whole
train split) against a default XGBoost baseline fitted on the same split.

The budget is wall time for the whole call. Each model gets an equal share of
what is left when its turn comes; its search stops starting trials at 70% of
the share, leaving the rest for the refit. A trial that has started runs to
its end, so the call may overrun by about one trial of the slowest model plus
one refit (seconds on example sets of a few hundred thousand rows). At least
two models are tried even when the budget is spent, so there is a comparison.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError
from mlplat.models.catalog import CLUSTERING, DEEP_CATALOG, PRIMARY_METRIC, get_kind, infer_task, models_for
from mlplat.models.training import (
    ExampleLayout,
    Progress,
    TrainConfig,
    TrainResult,
    prepare,
    split_rows,
    train_pipeline,
)
from mlplat.models.tuning import TuneResult, train_summary, tune

SELECTION_ROWS = 20_000  # train rows the feature checks look at
DUPLICATE_CORRELATION = 0.995  # |r| at or above which a numeric column repeats an earlier one
MIN_IMPORTANCE = 0.001  # share of total gain below which a column is dropped
SEARCH_SHARE = 0.7  # of a model's time share, for trials; the rest is for its refit
MAX_TRIALS = 200  # per model; the time share is what normally stops the search
ORDER = ("logistic", "linear", "xgboost", "random_forest")  # cheapest first


@dataclass
class AutoMLResult:
    task: str
    metric: str
    direction: str
    budget: float
    seconds: float
    selected: list[str]
    dropped: list[dict[str, Any]]  # column, reason
    leaderboard: list[dict[str, Any]]  # best first by validation score
    winner: TrainResult
    baseline: TrainResult
    searches: list[TuneResult] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def winner_model(self) -> str:
        return self.winner.config.model

    def comparison(self) -> dict[str, Any]:
        """The winner against the default XGBoost baseline on the holdout (``gain`` > 0: the winner is better)."""
        w, b = self.winner.metrics.get(self.metric), self.baseline.metrics.get(self.metric)
        sign = 1.0 if self.direction == "maximize" else -1.0
        gain = None if w is None or b is None or w != w or b != b else round(sign * (w - b), 6)
        return {"metric": self.metric, "winner": w, "baseline": b, "gain": gain}

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "metric": self.metric, "direction": self.direction, "budget": self.budget,
            "seconds": round(self.seconds, 3), "overrun": round(max(0.0, self.seconds - self.budget), 3),
            "features": {"selected": list(self.selected), "dropped": list(self.dropped)},
            "leaderboard": self.leaderboard, "skipped": self.skipped, "winner": train_summary(self.winner),
            "baseline": train_summary(self.baseline), "comparison": self.comparison(),
            "studies": [s.study_name for s in self.searches],
        }


def _scaled(say: Progress, low: float, high: float) -> Progress:
    """A search's progress (0..1) as its slice [low, high] of the whole call's."""
    return lambda message, fraction: say(message, low + (high - low) * fraction)


def automl(
    frame: pd.DataFrame,
    target: str,
    layout: ExampleLayout = ExampleLayout(),
    *,
    budget: float,
    storage: str,
    study_prefix: str,
    seed: int = 0,
    progress: Progress | None = None,
    models: Sequence[str] | None = None,
    features: list[str] | None = None,
    session_features: Sequence[str] = (),
    split: str = "random",
    test_size: float = 0.2,
) -> AutoMLResult:
    """Select features and a model for ``target`` within ``budget`` seconds; the winner is refit and evaluated."""
    began = time.monotonic()
    say = progress or (lambda message, fraction: None)
    if not isinstance(budget, (int, float)) or budget <= 0:
        raise ValidationError(f"budget must be a positive number of seconds, not {budget!r}")
    if not target:
        raise ValidationError("automl needs a target column (for clustering, train kmeans directly)")
    base = TrainConfig(model="xgboost", target=target, features=features, session_features=list(session_features),
                       split=split, test_size=test_size, seed=seed)
    frame, _, task, all_features = prepare(frame, base, layout)
    candidates = _candidates(models, task, frame[target])
    metric, higher = PRIMARY_METRIC[task]
    train_idx, test_idx = split_rows(frame, base, layout)

    say(f"choosing among {len(all_features)} features on {len(train_idx)} train rows", 0.02)
    selected, dropped = select_features(frame.iloc[train_idx].reset_index(drop=True),
                                        _with(base, features=all_features), layout)
    say(f"kept {len(selected)} feature(s), dropped {len(dropped)}; fitting the default XGBoost baseline", 0.1)
    baseline = train_pipeline(frame, _with(base, features=all_features), layout, split=(train_idx, test_idx))

    searches: list[TuneResult] = []
    skipped: list[dict[str, Any]] = []
    session = [c for c in session_features if c in selected]
    # Another call on the same question resumes the same studies; a different question gets studies of its own.
    question = json.dumps([selected, len(frame), split, test_size, seed], default=str).encode()
    suffix = hashlib.sha256(question).hexdigest()[:8]
    for i, model in enumerate(candidates):
        left = budget - (time.monotonic() - began)
        if left <= 0 and len(searches) >= 2:
            skipped.append({"model": model, "reason": f"the budget of {budget:g}s was spent"})
            continue
        share = max(left, 0.0) / (len(candidates) - i)
        low, high = 0.15 + 0.85 * i / len(candidates), 0.15 + 0.85 * (i + 1) / len(candidates)
        say(f"tuning {model} for up to {share * SEARCH_SHARE:.1f}s", low)
        config = _with(base, model=model, features=selected, session_features=session, task=task)
        searches.append(tune(
            frame, config, layout, storage=storage, study_name=f"{study_prefix}-{model}-{suffix}", method="bayesian",
            trials=MAX_TRIALS, seed=seed, timeout=max(share * SEARCH_SHARE, 0.01),
            progress=_scaled(say, low, high),
        ))
    ranked = sorted(searches, key=lambda s: s.best_value, reverse=higher)
    leaderboard = [_entry(s, metric) for s in ranked]
    winner = ranked[0]
    seconds = time.monotonic() - began
    say(f"winner: {winner.model} ({metric} {winner.result.metrics.get(metric, float('nan')):.4g} on the holdout, "
        f"baseline {baseline.metrics.get(metric, float('nan')):.4g}) in {seconds:.1f}s", 1.0)
    return AutoMLResult(task, metric, "maximize" if higher else "minimize", float(budget), seconds, selected,
                        dropped, leaderboard, winner.result, baseline, searches, skipped)


def _with(config: TrainConfig, **changes: Any) -> TrainConfig:
    return TrainConfig.from_dict({**config.to_dict(), **changes})


def _candidates(models: Sequence[str] | None, task: str, target: pd.Series) -> list[str]:
    if task == CLUSTERING:
        raise ValidationError("automl needs a classification or regression target")
    if models is None:
        # the networks only when named: sequence_gru needs event columns, and their trials take minutes
        found = [m for m in models_for(task) if m not in DEEP_CATALOG]
    else:
        found = list(dict.fromkeys(models))
        if not found:
            raise ValidationError(f"models is empty: name some of {', '.join(models_for(task))}")
        for name in found:
            infer_task(target, get_kind(name).name, task)  # a model that does not fit the task says so
    return sorted(found, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER))


def _entry(search: TuneResult, metric: str) -> dict[str, Any]:
    finished = [t for t in search.trials if t["state"] == "COMPLETE"]
    return {
        "model": search.model, "params": search.result.config.params,
        "validation": {metric: search.best_value}, "holdout": search.result.report.to_dict()["metrics"],
        "trials": len(finished), "seconds": round(search.seconds, 3), "study_name": search.study_name,
    }


# -- feature selection ---------------------------------------------------------------------
def select_features(
    train: pd.DataFrame, config: TrainConfig, layout: ExampleLayout = ExampleLayout()
) -> tuple[list[str], list[dict[str, Any]]]:
    """(kept, dropped with reasons): constant columns, near-duplicates of an earlier column, ~zero importance.

    ``train`` holds training rows only; importance comes from a quick XGBoost
    fit (50 shallow trees) on at most ``SELECTION_ROWS`` of them.
    """
    if len(train) > SELECTION_ROWS:
        train = train.sample(SELECTION_ROWS, random_state=config.seed).reset_index(drop=True)
    frame, schema, _, features = prepare(train, config, layout)
    decoded = schema.decode(frame)
    numeric = [c for c in features if decoded[c].dtype != object]
    corr = decoded[numeric].corr().abs() if len(numeric) > 1 else pd.DataFrame()
    seen_text: dict[bytes, str] = {}
    dropped: list[dict[str, Any]] = []
    kept: list[str] = []
    for c in features:
        values = decoded[c].dropna()
        twin = None
        if c in numeric and not corr.empty:
            close = [o for o in kept if o in numeric and corr.at[c, o] >= DUPLICATE_CORRELATION
                     and (decoded[c].isna() == decoded[o].isna()).mean() > 0.99]
            twin = (close[0], f"|r| = {corr.at[c, close[0]]:.4f}") if close else None
        elif c not in numeric:
            codes = pd.factorize(decoded[c])[0].tobytes()
            twin = (seen_text[codes], "the same categories row by row") if codes in seen_text else None
        if values.empty:
            dropped.append({"column": c, "reason": "empty: no values in the train rows"})
        elif values.nunique() == 1:
            dropped.append({"column": c, "reason": f"constant: every value is {values.tolist()[0]!r}"})
        elif twin is not None:
            dropped.append({"column": c, "reason": f"near-duplicate of {twin[0]!r} ({twin[1]})"})
        else:
            kept.append(c)
            if c not in numeric:
                seen_text[pd.factorize(decoded[c])[0].tobytes()] = c
    if len(kept) > 1:
        quick = TrainConfig.from_dict({**config.to_dict(), "model": "xgboost", "features": kept,
                                       "session_features": [s for s in config.session_features if s in kept],
                                       "params": {"n_estimators": 50, "max_depth": 4}, "task": None})
        shares = _importance_shares(train_pipeline(frame, quick, layout), kept)
        for c in [c for c in kept if shares[c] < MIN_IMPORTANCE]:
            if len(kept) > 1:
                kept.remove(c)
                dropped.append({"column": c, "reason": f"no importance: {shares[c]:.2%} of the gain in a quick "
                                                       "XGBoost fit"})
    if not kept:
        raise ValidationError("every feature was dropped (constant or empty in the train rows): nothing to learn from")
    return kept, dropped


def _importance_shares(result: TrainResult, features: list[str]) -> dict[str, float]:
    """Each input column's share of the total gain (a one-hot column ``c=v`` counts toward ``c``)."""
    values = np.asarray(getattr(result.pipeline.model, "feature_importances_", []), dtype=float)
    total = float(np.nansum(values)) or 1.0
    shares = dict.fromkeys(features, 0.0)
    for column, value in zip(result.pipeline.model_columns, values):
        owner = column if column in shares else column.split("=", 1)[0]
        if owner in shares and np.isfinite(value):
            shares[owner] += float(value) / total
    return shares


__all__ = ["AutoMLResult", "automl", "select_features"]
