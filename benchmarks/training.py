"""Training benchmark: the platform's overhead over bare library fits, and tuning with 1 vs 2 workers.

Part 1 (``overhead``): synthetic classification data (``--rows`` x
``--features`` floats, a planted signal in a few of them, 2% missing values)
trained end to end by ``train_pipeline`` (input checks, decode, transformer,
fit, holdout metrics and curves, the pipeline with its input example) against
the bare library on the same train/holdout rows: ``fit`` then
``predict_proba`` on the holdout and its AUC. XGBoost with the catalog's
defaults; scikit-learn as logistic regression, whose bare side gets the same
median fill and standard scaling (an imputer and a scaler in a sklearn
Pipeline) the platform's default transformer does. Each side runs ``--runs``
times, alternating; the best time counts.

Part 2 (``tuning``): a ``--trials``-trial Bayesian study of XGBoost on
``--tune-rows`` rows, run once with 1 worker and once with 2 (forked
processes, 1 thread each; the single worker uses every core), each on a fresh
study in a temporary SQLite metadata database; the refit is included.

Prints one JSON line. Usage: python benchmarks/training.py [--rows 200000] [--trials 40]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# OpenMP threads (XGBoost's) spin while they wait; on a shared, busy machine that measures the contention rather
# than the fit. Passive waiting is set before XGBoost loads, for both sides alike; detail.omp_wait_policy says so.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from mlplat.config import load_settings  # noqa: E402
from mlplat.metadata import Database  # noqa: E402
from mlplat.models.catalog import get_kind  # noqa: E402
from mlplat.models.training import ExampleLayout, TrainConfig, split_rows, train_pipeline  # noqa: E402
from mlplat.models.tuning import tune  # noqa: E402


def log(message: str) -> None:
    print(f"[training bench] {message}", file=sys.stderr, flush=True)


def synthetic(rows: int, features: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.8 * x[:, 2] * x[:, 3] + 0.5 * np.sin(3 * x[:, 4]) - 0.3
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    x[rng.random((rows, features)) < 0.02] = np.nan
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(features)])
    frame["y"] = y
    return frame


def mlplat_fit(frame: pd.DataFrame, config: TrainConfig) -> float:
    return train_pipeline(frame, config).metrics["auc"]


def bare_xgboost(frame: pd.DataFrame, columns: list[str], train: np.ndarray, test: np.ndarray) -> float:
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    x, y = frame[columns].to_numpy(dtype=np.float64), frame["y"].to_numpy()
    params = get_kind("xgboost").defaults
    model = xgb.XGBClassifier(tree_method="hist", eval_metric="logloss", random_state=0, **params)
    model.fit(x[train], y[train])
    return float(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))


def bare_sklearn(frame: pd.DataFrame, columns: list[str], train: np.ndarray, test: np.ndarray) -> float:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = frame[columns].to_numpy(dtype=np.float64), frame["y"].to_numpy()
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                          LogisticRegression(random_state=0, **get_kind("logistic").defaults))
    model.fit(x[train], y[train])
    return float(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))


def best_of(runs: int, sides: dict[str, Callable[[], float]]) -> dict[str, dict[str, Any]]:
    """Each side ``runs`` times, alternating (so load drifts hit both alike); best time and every time."""
    times: dict[str, list[float]] = {k: [] for k in sides}
    auc: dict[str, float] = {}
    for _ in range(runs):
        for name, run in sides.items():
            began = time.perf_counter()
            auc[name] = run()
            times[name].append(round(time.perf_counter() - began, 3))
    return {k: {"best_s": min(v), "runs_s": v, "auc": round(auc[k], 5)} for k, v in times.items()}


def overhead(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    frame = synthetic(args.rows, args.features)
    columns = [c for c in frame.columns if c != "y"]
    results: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    for library, model, bare in (("xgboost", "xgboost", bare_xgboost), ("sklearn", "logistic", bare_sklearn)):
        config = TrainConfig(model=model, target="y", features=columns)
        train, test = split_rows(frame, config, ExampleLayout())
        log(f"{library}: mlplat train_pipeline vs bare fit on {len(train)} rows, {args.runs} runs each")
        mlplat_fit(frame.head(2000), config)  # imports and first-call costs out of the timing, for both sides
        bare(frame.head(2000), columns, np.arange(1600), np.arange(1600, 2000))
        # partial binds this iteration's config and split (best_of runs them before the loop moves on)
        sides = best_of(args.runs, {"mlplat": partial(mlplat_fit, frame, config),
                                    "bare": partial(bare, frame, columns, train, test)})
        m, b = sides["mlplat"]["best_s"], sides["bare"]["best_s"]
        results[library] = {"model": model, "mlplat_s": m, "bare_s": b, "ratio": round(m / b, 3)}
        detail[library] = sides
        log(f"{library}: mlplat {m:.2f}s, bare {b:.2f}s, ratio {m / b:.3f}")
    return results, detail


def tuning(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    frame = synthetic(args.tune_rows, args.features, seed=1)
    config = TrainConfig(model="xgboost", target="y", features=[c for c in frame.columns if c != "y"])
    settings = load_settings(env={}, home=home)
    db = Database(settings.metadata)
    db.migrate()
    db.dispose()
    space = {"n_estimators": {"low": 50, "high": 200}, "max_depth": {"low": 3, "high": 8},
             "learning_rate": {"low": 0.03, "high": 0.3, "log": True}}
    out: dict[str, Any] = {"trials": args.trials, "rows": args.tune_rows}
    for workers in (1, 2):
        log(f"tuning: {args.trials} trials with {workers} worker(s)")
        began = time.perf_counter()
        result = tune(frame, config, storage=settings.metadata, study_name=f"bench-{workers}", trials=args.trials,
                      workers=workers, space=space)
        out[f"workers_{workers}_s"] = round(time.perf_counter() - began, 2)
        out[f"workers_{workers}_best_auc"] = round(result.best_value, 5)
        assert len(result.trials) == args.trials, len(result.trials)
        log(f"tuning: {workers} worker(s) took {out[f'workers_{workers}_s']}s")
    out["speedup"] = round(out["workers_1_s"] / out["workers_2_s"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--tune-rows", type=int, default=20_000)
    parser.add_argument("--no-tuning", action="store_true", help="part 1 only")
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "training"}
    result["overhead"], detail = overhead(args)
    if not args.no_tuning:
        with tempfile.TemporaryDirectory(prefix="mlplat-train-bench-") as tmp:
            result["tuning"] = tuning(args, Path(tmp))
    result["detail"] = {"rows": args.rows, "features": args.features, "cores": os.cpu_count(),
                        "load_avg_1m": round(os.getloadavg()[0], 2),
                        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), **detail}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
