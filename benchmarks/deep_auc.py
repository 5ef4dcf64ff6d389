"""The purchase task: the sequence model (GRU over the last 20 events) against XGBoost, on the same holdout.

Seeds a lake (``--users`` users, ``--days`` days, seed ``--seed``), builds the
starter session example set with each session's last 20 earlier clickstream
events attached (``mlplat.features.starter.EVENTS``), and trains on the newest
20% of sessions held out by time:

- ``xgboost``: the starter features and session features (what chapter 2 trains);
- ``xgboost_events``: the same plus the 20 events' columns (one-hot), so the
  trees see everything the network sees;
- ``mlp``: the network without events, on ``xgboost``'s inputs (is it the
  network or the events?);
- ``sequence_gru``: the same inputs as ``xgboost_events``, the events read as a
  sequence.

The lake's ``bayes_auc`` (the planted model's own AUC over all sessions) is the
ceiling for reference. Prints one JSON line (AUCs, their ratio and timings).
Usage: python benchmarks/deep_auc.py [--users 5000] [--days 14]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlplat.config import load_settings  # noqa: E402
from mlplat.features.examples.store import to_pandas  # noqa: E402
from mlplat.features.starter import EVENTS, SESSION_FEATURES, TARGET, build_session_examples  # noqa: E402
from mlplat.identity import LOCAL_ADMIN  # noqa: E402
from mlplat.models.training import ExampleLayout, TrainConfig, train_pipeline  # noqa: E402


def log(message: str) -> None:
    print(f"[deep auc] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--example-days", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="intra-op threads (small batches: a second thread mostly spins on a shared machine)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.torch_threads)
    from mlplat.platform import Platform

    with tempfile.TemporaryDirectory(prefix="mlplat-deep-auc-") as tmp:
        settings = load_settings(env={}, home=Path(tmp) / "home")
        platform = Platform(settings)
        log(f"seeding {args.users} users x {args.days} days")
        report = platform.tables.seed(LOCAL_ADMIN, users=args.users, days=args.days, seed=args.seed,
                                      end=date(2026, 11, 25))
        log("building the session example set with the last 20 events")
        info = build_session_examples(platform, LOCAL_ADMIN, "growth", days=args.example_days, events=EVENTS)
        frame, layout = to_pandas(info), ExampleLayout.from_manifest(info.manifest)
        no_events = ExampleLayout(layout.entity, layout.timestamp, layout.label_columns, layout.store_columns,
                                  layout.set_versions)
        base = {"target": TARGET, "session_features": list(SESSION_FEATURES), "split": "time", "seed": 0}
        runs: dict[str, Any] = {}
        for name, model, lay, params in (
            ("xgboost", "xgboost", no_events, {}),
            ("xgboost_events", "xgboost", layout, {}),
            ("mlp", "mlp", no_events, {"max_epochs": args.epochs, "patience": 4}),
            ("sequence_gru", "sequence_gru", layout, {"max_epochs": args.epochs, "patience": 4}),
        ):
            log(f"training {name} on {len(frame)} rows")
            began = time.perf_counter()
            result = train_pipeline(frame, TrainConfig(model=model, params=params, **base), lay)
            runs[name] = {"auc": round(result.metrics["auc"], 4), "seconds": round(time.perf_counter() - began, 1),
                          "inputs": len(result.pipeline.model_columns)}
            log(f"{name}: {runs[name]}")
        platform.db.dispose()
    print(json.dumps({
        "benchmark": "deep_auc", "sequence_gru_auc": runs["sequence_gru"]["auc"],
        "xgboost_auc": runs["xgboost"]["auc"],
        "ratio": round(runs["sequence_gru"]["auc"] / runs["xgboost"]["auc"], 4),
        "runs": runs, "rows": len(frame), "positive_rate": round(float(frame[TARGET].mean()), 4),
        "bayes_auc": getattr(report, "bayes_auc", None),
        "lake": {"users": args.users, "days": args.days, "seed": args.seed, "example_days": args.example_days},
    }))


if __name__ == "__main__":
    main()
