"""Grid and Bayesian (Optuna TPE) search over a model's declared space, studies kept in the metadata database.

The search never sees the holdout: ``split_rows`` cuts (train, test) as
training does, a validation split is carved from train the same way, every
trial fits on the rest of train and is scored on validation by the task's
primary metric. The best parameters are then refit on the whole train split
and evaluated on the holdout by ``train_pipeline``: that result is what gets
registered.

A study is an Optuna study in RDB storage beside the platform's tables (see
``mlplat.models.studies``), so an interrupted study resumes where it stopped (trials
already finished count toward ``trials``), ``workers=N`` forks N local
processes on one study, and other machines can join the same study by name.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError, require
from mlplat.features.transforms import Transformer, fit
from mlplat.models.catalog import CLASSIFICATION, PRIMARY_METRIC, ModelKind, Param, get_kind, parse_space
from mlplat.models.evaluate import task_metrics
from mlplat.models.studies import check_workers, cores, finished, opened_storage, run_trials
from mlplat.models.training import (
    ExampleLayout,
    Progress,
    TrainConfig,
    TrainResult,
    default_transformer_spec,
    encode_target,
    prepare,
    split_rows,
    train_pipeline,
)

METHODS = ("bayesian", "grid")


# -- the result --------------------------------------------------------------------
@dataclass
class TuneResult:
    """A finished search: the study, every trial, and the best parameters refit and evaluated on the holdout."""

    study_name: str
    method: str
    model: str
    metric: str
    direction: str  # maximize | minimize
    best_params: dict[str, Any]
    best_value: float
    trials: list[dict[str, Any]]
    result: TrainResult
    space: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def curve(self) -> dict[str, list[Any]]:
        """Validation value by trial number (finished trials) and the best so far: the data of the plot."""
        done = sorted((t for t in self.trials if t["state"] == "COMPLETE" and t["value"] is not None),
                      key=lambda t: t["number"])
        pick = max if self.direction == "maximize" else min
        best: list[float] = []
        for t in done:
            best.append(t["value"] if not best else pick(best[-1], t["value"]))
        return {"number": [t["number"] for t in done], "value": [t["value"] for t in done], "best": best}

    def trials_figure(self) -> Any:
        """A matplotlib figure: each trial's validation value and the best so far."""
        import matplotlib.pyplot as plt

        data = self.curve()
        fig, ax = plt.subplots(figsize=(6, 3.4))
        ax.scatter(data["number"], data["value"], s=14, alpha=0.7, label="trial")
        ax.step(data["number"], data["best"], where="post", c="C1", lw=1.5, label="best so far")
        ax.set(xlabel="trial", ylabel=f"{self.metric} (validation)",
               title=f"{self.method} search of {self.model}: best {self.metric} {self.best_value:.4g}")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        return fig

    def to_dict(self) -> dict[str, Any]:
        return {
            "study_name": self.study_name, "method": self.method, "model": self.model, "metric": self.metric,
            "direction": self.direction, "best_params": self.best_params, "best_value": _finite(self.best_value),
            "trials": self.trials, "space": self.space, "notes": list(self.notes), "seconds": round(self.seconds, 3),
            "result": train_summary(self.result),
        }


def train_summary(result: TrainResult) -> dict[str, Any]:
    """A TrainResult as JSON, without the pipeline."""
    return {"config": result.config.to_dict(), "report": result.report.to_dict(), "rows_train": result.rows_train,
            "rows_test": result.rows_test, "fit_seconds": round(result.fit_seconds, 3),
            "seconds": round(result.seconds, 3)}


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# -- what one trial needs --------------------------------------------------------------
@dataclass
class _Search:
    """The fit and validation matrices (built once, shared by every trial and, by fork, every worker)."""

    kind: ModelKind
    task: str
    metric: str
    params: list[Param]
    fixed: dict[str, Any]
    seed: int
    x_fit: np.ndarray
    y_fit: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None
    grid: dict[str, list[Any]] | None = None
    threads: int | None = None  # per worker, when workers share the machine
    columns: tuple[str, ...] = ()  # the matrices' column names, for kinds that read them (the networks)

    def objective(self, trial: Any) -> float:
        began = time.perf_counter()
        chosen = {p.name: self._suggest(trial, p) for p in self.params}
        params = {**self.fixed, **chosen}
        if self.threads and "n_jobs" in self.kind.known_params and "n_jobs" not in self.fixed:
            params["n_jobs"] = self.threads
        if self.kind.wants_columns:
            params["columns"] = self.columns
        estimator = self.kind.build(self.task, params, self.seed)
        if self.y_fit is None:
            estimator.fit(self.x_fit)
        else:
            estimator.fit(self.x_fit, self.y_fit)
        value = task_metrics(self.task, self.y_val, _raw(estimator, self.x_val, self.task), self.x_val,
                             estimator)[self.metric]
        trial.set_user_attr("worker", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("seconds", round(time.perf_counter() - began, 4))
        return float(value)

    def _suggest(self, trial: Any, p: Param) -> Any:
        if self.grid is not None:
            return trial.suggest_categorical(p.name, self.grid[p.name])
        if p.is_choice:
            return trial.suggest_categorical(p.name, list(p.choices))
        assert p.low is not None and p.high is not None
        if p.integer:
            step = 1 if p.log or not p.step else int(p.step)
            return trial.suggest_int(p.name, int(p.low), int(p.high), step=step, log=p.log)
        return trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log,
                                   step=None if p.log else p.step)


def _raw(estimator: Any, x: np.ndarray, task: str) -> np.ndarray:
    if task == CLASSIFICATION:
        proba: np.ndarray = estimator.predict_proba(x)
        return proba[:, 1] if proba.shape[1] == 2 else proba
    return np.asarray(estimator.predict(x))


def _search_data(
    frame: pd.DataFrame, config: TrainConfig, layout: ExampleLayout, schema: Any, task: str,
    transformer: Transformer | None, train_idx: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """(x_fit, y_fit, x_val, y_val, column names): validation carved from the train rows as the holdout is from all.

    The column names are for kinds that read them (the networks' one-hot blocks and event steps).
    """
    train = frame.iloc[train_idx].reset_index(drop=True)
    fit_idx, val_idx = split_rows(train, config, layout)
    decoded = schema.decode(train)
    fit_x, val_x = decoded.iloc[fit_idx].reset_index(drop=True), decoded.iloc[val_idx].reset_index(drop=True)
    if transformer is None:
        steps = default_transformer_spec(schema, get_kind(config.model))
        transformer = fit(steps, fit_x) if steps else None
    if transformer is not None:
        fit_x, val_x = transformer.transform_pandas(fit_x), transformer.transform_pandas(val_x)
    columns = [c for c in fit_x.columns if pd.api.types.is_numeric_dtype(fit_x[c])]
    if len(columns) < len(fit_x.columns):
        text = [c for c in fit_x.columns if c not in columns]
        raise ValidationError(f"column(s) {text} are still text after the transformer: one-hot encode them or "
                              "leave them out of features")
    y, _ = encode_target(train[config.target], task) if config.target else (None, [])
    if task == CLASSIFICATION and y is not None and len(np.unique(y[val_idx])) < 2:
        raise ValidationError(f"the validation split ({len(val_idx)} rows) holds a single class of "
                              f"{config.target!r}: give more rows or a larger test_size")
    x = [f[columns].to_numpy(dtype=np.float64, na_value=np.nan) for f in (fit_x, val_x)]
    return (x[0], (y[fit_idx] if y is not None else None), x[1], (y[val_idx] if y is not None else None),
            tuple(str(c) for c in columns))


# -- the search ------------------------------------------------------------------------
def tune(
    frame: pd.DataFrame,
    config: TrainConfig,
    layout: ExampleLayout = ExampleLayout(),
    *,
    storage: str,
    study_name: str,
    method: str = "bayesian",
    trials: int = 20,
    workers: int = 1,
    space: dict[str, Any] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    timeout: float | None = None,
    transformer: Transformer | None = None,
) -> TuneResult:
    """Search ``space`` (the model's default space when None) for the parameters scoring best on validation.

    ``storage`` is the metadata database URL; ``study_name`` names the study
    there: calling again with the same name resumes it, counting its finished
    trials toward ``trials``. ``method="grid"`` tries each grid point once (at
    most ``trials`` of them). ``timeout`` (seconds) stops starting new trials.
    ``config.params`` are fixed values the search does not touch.
    """
    require("optuna", "mlflow")
    began = time.perf_counter()
    say = progress or (lambda message, fraction: None)
    if method not in METHODS:
        raise ValidationError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if not isinstance(trials, int) or trials < 1:
        raise ValidationError(f"trials must be a positive integer, not {trials!r}")
    check_workers(workers)
    if timeout is not None and timeout <= 0:
        raise ValidationError(f"timeout must be a positive number of seconds, not {timeout!r}")
    kind = get_kind(config.model)
    params = parse_space(space, kind)
    fixed_overlap = sorted(set(config.params) & {p.name for p in params})
    if fixed_overlap:
        raise ValidationError(f"parameter(s) {fixed_overlap} are both fixed in params and searched in the space: "
                              "drop them from one of the two")
    frame, schema, task, features = prepare(frame, config, layout)
    metric, higher = PRIMARY_METRIC[task]
    direction = "maximize" if higher else "minimize"
    notes: list[str] = []
    grid = {p.name: p.grid() for p in params} if method == "grid" else None
    target_total = trials
    if grid is not None:
        size = math.prod(len(v) for v in grid.values())
        target_total = min(trials, size)
        if size > trials:
            notes.append(f"the grid has {size} points: trying {trials} of them (raise trials for all)")
        elif size < trials:
            notes.append(f"the grid has {size} points: {size} trials, not {trials}")
    space_record = {p.name: p.to_dict() for p in params}

    train_idx, test_idx = split_rows(frame, config, layout)
    say(f"preparing the search data ({len(train_idx)} train rows, holdout of {len(test_idx)} kept out)", 0.01)
    x_fit, y_fit, x_val, y_val, columns = _search_data(frame, config, layout, schema, task, transformer, train_idx)
    search = _Search(kind, task, metric, params, dict(config.params), config.seed, x_fit, y_fit, x_val,
                     y_val, grid, max(1, cores() // workers) if workers > 1 else None, columns)

    # Trials of a resumed study were scored on the same validation rows only if all of this is unchanged.
    expected = {"model": config.model, "method": method, "metric": metric, "direction": direction,
                "target": config.target, "features": features, "space": space_record, "rows": len(frame),
                "split": config.split, "test_size": config.test_size, "seed": config.seed,
                "fixed": dict(config.params)}
    with opened_storage(storage, workers) as store:
        records, best_params, best_value = _run_study(search, store, study_name, expected, target_total, workers,
                                                      seed, timeout, notes, say)
    say(f"refitting the best {config.model} ({metric} {best_value:.4g} on validation) on {len(train_idx)} rows", 0.9)
    refit = replace(config, params={**config.params, **best_params})
    result = train_pipeline(frame, refit, layout, transformer=transformer, split=(train_idx, test_idx),
                            progress=lambda m, f: say(m, 0.9 + 0.1 * f))
    return TuneResult(study_name, method, config.model, metric, direction, best_params, best_value, records,
                      result, space_record, notes, time.perf_counter() - began)


def _run_study(
    search: _Search, store: Any, study_name: str, expected: dict[str, Any], total: int, workers: int, seed: int,
    timeout: float | None, notes: list[str], say: Progress,
) -> tuple[list[dict[str, Any]], dict[str, Any], float]:
    """Create or resume the study, run what is left of ``total`` trials: (every trial, best params, best value)."""
    import optuna

    study = optuna.create_study(storage=store, study_name=study_name, direction=expected["direction"],
                                load_if_exists=True)
    _check_study(study, study_name, expected)
    done = finished(study)
    remaining = max(0, total - done)
    if done:
        notes.append(f"resumed study {study_name!r}: {done} trial(s) already finished")
    say(f"{expected['method']} search of {expected['model']}: {remaining} trial(s) to run, {done} done, "
        f"{workers} worker(s)", 0.02)
    if remaining:
        base = seed + len(study.trials)  # a resumed study does not replay the first random proposals
        run_trials(study_name, store, search.objective, lambda i: _sampler(search, base + 1000 * i, total),
                   count=remaining, total=total, workers=workers, threads=search.threads,
                   deadline=None if timeout is None else time.monotonic() + timeout,
                   report=_progress(say, total, search.metric))
    study = optuna.load_study(study_name=study_name, storage=store)
    records = [_trial_record(t) for t in study.get_trials(deepcopy=False)]
    if not any(r["state"] == "COMPLETE" for r in records):
        failed = sum(r["state"] == "FAIL" for r in records)
        raise ValidationError(f"no trial of study {study_name!r} finished ({failed} failed): the {search.metric} on "
                              "validation was not a number; check the target and the data size")
    best = study.best_trial
    assert best.value is not None  # a COMPLETE trial has its value
    return records, dict(best.params), float(best.value)


def _check_study(study: Any, name: str, expected: dict[str, Any]) -> None:
    """A study resumes only for the same question: record it when new, compare it when loaded."""
    expected = json.loads(json.dumps(expected, default=str))
    have = study.user_attrs
    if not have:
        for key, value in expected.items():
            study.set_user_attr(key, value)
        return
    differ = [k for k, v in expected.items() if k in have and have[k] != v]
    if differ:
        what = "; ".join(f"{k} was {have[k]!r}, now {expected[k]!r}" for k in differ)
        raise ValidationError(f"study {name!r} exists for another search ({what}): pick a new study name",
                              study=name)


def _trial_record(t: Any) -> dict[str, Any]:
    seconds = t.user_attrs.get("seconds")
    if seconds is None and t.datetime_start and t.datetime_complete:
        seconds = round((t.datetime_complete - t.datetime_start).total_seconds(), 4)
    return {"number": t.number, "params": dict(t.params), "value": _finite(t.value) if t.values else None,
            "state": t.state.name, "seconds": seconds, "worker": t.user_attrs.get("worker"),
            "host": t.user_attrs.get("host")}


def _progress(say: Progress, total: int, metric: str) -> Callable[[Any], None]:
    """Reads the study after a trial finished (in this process, or polled from forked workers)."""
    last = {"done": -1}

    def report(study: Any) -> None:
        done = finished(study)
        if done == last["done"]:
            return
        last["done"] = done
        try:
            best = f" (best {study.best_value:.4g})"
        except ValueError:  # nothing complete yet
            best = ""
        say(f"trial {min(done, total)}/{total} finished: {metric}{best}", 0.05 + 0.85 * min(done, total) / total)

    return report


def _sampler(search: _Search, seed: int, total: int) -> Any:
    import optuna

    if search.grid is not None:
        return optuna.samplers.GridSampler(search.grid, seed=seed)
    startup = max(3, min(10, total // 3))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True, constant_liar=True)


__all__ = ["METHODS", "TuneResult", "train_summary", "tune"]
