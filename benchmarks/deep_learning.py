"""Deep learning benchmark: the platform's training overhead over a bare PyTorch loop, and 2 processes vs 1.

Part 1 (``overhead``): ``--rows`` synthetic rows (numbers and two categorical
columns, a planted signal) trained as the ``mlp`` kind by ``train_pipeline``
(input checks, decode, transformer, the estimator's loop with a validation
pass per epoch, holdout metrics and curves, the pipeline with its input
example) against a bare PyTorch loop on the same rows: pandas one-hot and
standard scaling, the same layer sizes, Adam, the same batch size and the
same number of epochs with a validation pass each. Early stopping is off on
both sides (patience above the epoch count), so both run every epoch. Best of
``--runs`` each, alternating. Target: ratio <= 1.1.

Part 2 (``distributed``): the same network fitted by ``fit_distributed``
(``TorchDistributor``, gloo, local mode) with 1 and with 2 processes, the same
epochs; on a 2-core machine the two processes share the cores, so the figure
says what the machine allows, not what a cluster gives.

Prints one JSON line. Usage: python benchmarks/deep_learning.py [--rows 100000] [--epochs 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
for _path in (str(HERE.parent), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from training import best_of  # noqa: E402  (benchmarks/training.py: each side alternating, best time)

from mlplat.models.training import ExampleLayout, TrainConfig, split_rows, train_pipeline  # noqa: E402


def log(message: str) -> None:
    print(f"[deep bench] {message}", file=sys.stderr, flush=True)


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8))
    country = rng.choice([f"c{i}" for i in range(12)], rows)
    device = rng.choice(["ios", "android", "web"], rows)
    logit = x[:, 0] - 0.7 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3] + 0.4 * (device == "ios") + (country == "c3") - 0.5
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    frame["country"], frame["device"] = country, device
    frame["y"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def bare_torch(frame: pd.DataFrame, train: np.ndarray, test: np.ndarray, epochs: int, params: dict[str, Any]) -> float:
    """The same network and epochs written by hand: what a data scientist would run without the platform."""
    import torch
    from sklearn.metrics import roc_auc_score
    from torch import nn

    numbers = [c for c in frame.columns if c.startswith("f")]
    tr, te = frame.iloc[train], frame.iloc[test]
    mean, std = tr[numbers].mean(), tr[numbers].std()

    def matrix(part: pd.DataFrame) -> torch.Tensor:
        dummies = pd.get_dummies(part[["country", "device"]]).reindex(columns=columns, fill_value=0)
        values = np.hstack([((part[numbers] - mean) / std).to_numpy(), dummies.to_numpy(dtype=float)])
        return torch.as_tensor(values, dtype=torch.float32)

    columns = list(pd.get_dummies(tr[["country", "device"]]).columns)
    x, y = matrix(tr), torch.as_tensor(tr["y"].to_numpy(), dtype=torch.long)
    n_val = int(len(x) * 0.1)
    x_val, y_val, x_fit, y_fit = x[:n_val], y[:n_val], x[n_val:], y[n_val:]
    hidden = params["hidden"]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, hidden),
                        nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 2))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    size = params["batch_size"]
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x_fit))
        for i in range(0, len(order), size):
            pick = order[i:i + size]
            optimizer.zero_grad()
            loss_fn(net(x_fit[pick]), y_fit[pick]).backward()
            optimizer.step()
        net.eval()
        with torch.inference_mode():
            loss_fn(net(x_val), y_val)
    with torch.inference_mode():
        proba = torch.softmax(net(matrix(te)), dim=1)[:, 1].numpy()
    return float(roc_auc_score(te["y"], proba))


def overhead(args: argparse.Namespace) -> dict[str, Any]:
    frame = synthetic(args.rows)
    params = {"hidden": 64, "layers": 2, "batch_size": 256, "max_epochs": args.epochs, "patience": args.epochs + 1}
    config = TrainConfig(model="mlp", target="y", params=params, features=[c for c in frame.columns if c != "y"])
    train, test = split_rows(frame, config, ExampleLayout())

    def mlplat_fit() -> float:
        return float(train_pipeline(frame, config).metrics["auc"])

    log(f"overhead: mlp on {len(train)} rows, {args.epochs} epochs, {args.runs} runs each side")
    sides = best_of(args.runs, {"mlplat": mlplat_fit,
                                "bare": lambda: bare_torch(frame, train, test, args.epochs, params)})
    m, b = sides["mlplat"]["best_s"], sides["bare"]["best_s"]
    return {"mlplat_s": m, "bare_s": b, "ratio": round(m / b, 3), "target_met": m / b <= 1.1, "detail": sides}


def distributed(args: argparse.Namespace) -> dict[str, Any]:
    from mlplat.models.deep.distributed import fit_distributed
    from mlplat.models.deep.estimator import MLPClassifier
    from mlplat.spark import spark_session

    frame = synthetic(args.rows, seed=1)
    x = np.column_stack([frame[[f"f{i}" for i in range(8)]].to_numpy(), pd.get_dummies(frame["device"]).to_numpy()])
    y = frame["y"].to_numpy()
    from mlplat.config import load_settings

    spark = spark_session(load_settings(env={}), register_tables=False)
    out: dict[str, Any] = {}
    try:
        for processes in (1, 2):
            log(f"distributed: {processes} process(es), {args.epochs} epochs on {len(x)} rows")
            began = time.perf_counter()
            fit_distributed(MLPClassifier(max_epochs=args.epochs, patience=args.epochs + 1, batch_size=256),
                            x.astype(float), y, num_processes=processes)
            out[f"p{processes}_s"] = round(time.perf_counter() - began, 2)
    finally:
        spark.stop()
    out["speedup"] = round(out["p1_s"] / out["p2_s"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--skip-distributed", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "deep_learning", "rows": args.rows, "epochs": args.epochs}
    result["overhead"] = overhead(args)
    if not args.skip_distributed:
        result["distributed"] = distributed(args)
    result["summary"] = {"overhead_ratio": result["overhead"]["ratio"],
                         "distributed_speedup": (result.get("distributed") or {}).get("speedup")}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
