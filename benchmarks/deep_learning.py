"""Deep learning benchmark: the platform's training overhead over a bare PyTorch loop, and 2 processes vs 1.

Part 1 (``overhead``): ``--rows`` synthetic rows (numbers and two categorical
columns, a planted signal) trained as the ``mlp`` kind by ``train_pipeline``
(input checks, decode, transformer, the estimator's loop with a validation
pass per epoch, holdout metrics and curves, the pipeline with its input
example) against a bare PyTorch loop on the same rows and the same model:
standard scaling, an ``nn.Embedding`` per categorical column on integer
codes (the ``mlp`` kind's embedding size), the same layers, Adam, the same
batch size and the same number of epochs with a validation pass each. Early
stopping is off on both sides (patience above the epoch count), so both run
every epoch. Both sides run with ``--torch-threads`` intra-op threads. Best of
``--runs`` each, alternating, after a small warm-up fit of each. Target:
ratio <= 1.1.

Part 2 (``distributed``): the same network fitted by ``fit_distributed``
(``TorchDistributor``, gloo, local mode) with 1 and with 2 processes for
``--distributed-epochs`` epochs, and in this process without it
(``in_process_s``: p1 minus it is TorchDistributor's start-up). On a 2-core
machine the two processes share the cores, so the figure says what the
machine allows, not what a cluster gives.

Part 3 (``serving``): ``benchmarks/inference.py --kind mlp`` in its own
process: the Inference Service serving the MLP (features from Online Serving)
against ``mlflow models serve`` with MLflow's pytorch flavor (its own venv),
same workers, same load; requests/s, p99 and CPU per request. Target >= 10x.

Prints one JSON line with a ``summary`` of the three. Usage:
python benchmarks/deep_learning.py [--rows 100000] [--epochs 5] [--skip-distributed] [--skip-serving]
"""

from __future__ import annotations

import argparse
import json
import os
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
    """The same network and epochs written by hand: what a data scientist would run without the platform.

    The same model as the ``mlp`` kind: the numbers standardized, an ``nn.Embedding`` of
    min(8, categories) per categorical column on integer codes, ``layers`` hidden layers with ReLU
    and dropout, a two-class head; Adam, the same batch size, a validation pass per epoch.
    """
    import torch
    from sklearn.metrics import roc_auc_score
    from torch import nn

    numbers = [c for c in frame.columns if c.startswith("f")]
    categorical = ["country", "device"]
    tr, te = frame.iloc[train], frame.iloc[test]
    mean, std = tr[numbers].mean(), tr[numbers].std()
    vocab = {c: {v: i for i, v in enumerate(sorted(tr[c].unique()))} for c in categorical}

    def tensors(part: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        values = ((part[numbers] - mean) / std).to_numpy(dtype=np.float32)
        codes = np.column_stack([part[c].map(vocab[c]).fillna(0).to_numpy(dtype=np.int64) for c in categorical])
        return torch.as_tensor(values), torch.as_tensor(codes)

    class Net(nn.Module):  # type: ignore[misc]
        def __init__(self, hidden: int, layers: int) -> None:
            super().__init__()
            self.embeddings = nn.ModuleList(nn.Embedding(len(vocab[c]), min(8, len(vocab[c]))) for c in categorical)
            width = len(numbers) + sum(e.embedding_dim for e in self.embeddings)
            body: list[nn.Module] = []
            for _ in range(layers):
                body += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(0.1)]
                width = hidden
            self.body = nn.Sequential(*body, nn.Linear(width, 2))

        def forward(self, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
            embedded = [e(codes[:, i]) for i, e in enumerate(self.embeddings)]
            out: torch.Tensor = self.body(torch.cat([numeric, *embedded], dim=1))
            return out

    numeric, codes = tensors(tr)
    y = torch.as_tensor(tr["y"].to_numpy(), dtype=torch.long)
    n_val = int(len(y) * 0.1)
    torch.manual_seed(0)
    net = Net(params["hidden"], params["layers"])
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    size = params["batch_size"]
    for _ in range(epochs):
        net.train()
        order = n_val + torch.randperm(len(y) - n_val)
        for i in range(0, len(order), size):
            pick = order[i:i + size]
            optimizer.zero_grad()
            loss_fn(net(numeric[pick], codes[pick]), y[pick]).backward()
            optimizer.step()
        net.eval()
        with torch.inference_mode():
            loss_fn(net(numeric[:n_val], codes[:n_val]), y[:n_val])
    with torch.inference_mode():
        proba = torch.softmax(net(*tensors(te)), dim=1)[:, 1].numpy()
    return float(roc_auc_score(te["y"], proba))


def overhead(args: argparse.Namespace) -> dict[str, Any]:
    frame = synthetic(args.rows)
    params = {"hidden": 64, "layers": 2, "batch_size": 256, "max_epochs": args.epochs, "patience": args.epochs + 1}
    config = TrainConfig(model="mlp", target="y", params=params, features=[c for c in frame.columns if c != "y"])
    train, test = split_rows(frame, config, ExampleLayout())

    def mlplat_fit() -> float:
        return float(train_pipeline(frame, config).metrics["auc"])

    log(f"overhead: mlp on {len(train)} rows, {args.epochs} epochs, {args.runs} runs each side")
    small = frame.head(2000)  # imports and first-call costs out of the timing, for both sides
    train_pipeline(small, TrainConfig(model="mlp", target="y", params={**params, "max_epochs": 1},
                                      features=config.features))
    bare_torch(small, np.arange(1600), np.arange(1600, 2000), 1, params)
    sides = best_of(args.runs, {"mlplat": mlplat_fit,
                                "bare": lambda: bare_torch(frame, train, test, args.epochs, params)})
    m, b = sides["mlplat"]["best_s"], sides["bare"]["best_s"]
    return {"mlplat_s": m, "bare_s": b, "ratio": round(m / b, 3), "target_met": m / b <= 1.1, "detail": sides}


def distributed(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from mlplat.models.deep.distributed import fit_distributed
    from mlplat.models.deep.estimator import MLPClassifier
    from mlplat.spark import spark_session

    frame = synthetic(args.rows, seed=1)
    x = np.column_stack([frame[[f"f{i}" for i in range(8)]].to_numpy(), pd.get_dummies(frame["device"]).to_numpy()])
    y = frame["y"].to_numpy()
    from mlplat.config import load_settings

    spark = spark_session(load_settings(env={}), register_tables=False)
    out: dict[str, Any] = {}
    # TorchDistributor's processes write their banners to the stdout they inherit: send them to stderr, so
    # stdout stays the one JSON line
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        epochs = args.distributed_epochs
        for processes in (1, 2):
            log(f"distributed: {processes} process(es), {epochs} epochs on {len(x)} rows")
            began = time.perf_counter()
            fit_distributed(MLPClassifier(max_epochs=epochs, patience=epochs + 1, batch_size=256),
                            x.astype(float), y, num_processes=processes)
            out[f"p{processes}_s"] = round(time.perf_counter() - began, 2)
        # the same fit without TorchDistributor (all the machine's threads): p1 minus this is its start-up
        threads = torch.get_num_threads()
        torch.set_num_threads(os.cpu_count() or 1)
        began = time.perf_counter()
        MLPClassifier(max_epochs=epochs, patience=epochs + 1, batch_size=256).fit(x.astype(float), y)
        out["in_process_s"] = round(time.perf_counter() - began, 2)
        torch.set_num_threads(threads)
        out["epochs"] = epochs
    finally:
        spark.stop()
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
    out["speedup"] = round(out["p1_s"] / out["p2_s"], 3)
    return out


def serving(args: argparse.Namespace) -> dict[str, Any]:
    """Part 3: ``inference.py --kind mlp`` in its own process (its servers and load generator); its JSON line."""
    import subprocess

    argv = [sys.executable, str(HERE / "inference.py"), "--kind", "mlp", "--seconds", str(args.serving_seconds),
            "--warmup", "3", "--entities", "20000"]
    log("serving: " + " ".join(argv[1:]))
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, cwd=HERE.parent)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"inference.py exited {done.returncode}"}
    found: dict[str, Any] = json.loads(lines[-1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--skip-distributed", action="store_true")
    parser.add_argument("--distributed-epochs", type=int, default=20,
                        help="epochs of the distributed part (TorchDistributor's start-up, ~7 s here, needs a run "
                             "long enough to amortize it)")
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--serving-seconds", type=float, default=15.0,
                        help="seconds of load on each server in the serving part")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="intra-op threads for both sides (1: batches of 256 gain nothing from a second "
                             "thread, and the Inference Service runs one per worker too)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.torch_threads)
    result: dict[str, Any] = {"benchmark": "deep_learning", "rows": args.rows, "epochs": args.epochs,
                              "torch_threads": args.torch_threads}
    result["overhead"] = overhead(args)
    if not args.skip_distributed:
        result["distributed"] = distributed(args)
    if not args.skip_serving:
        result["serving"] = serving(args)
    served = result.get("serving") or {}
    result["summary"] = {"overhead_ratio": result["overhead"]["ratio"],
                         "distributed_speedup": (result.get("distributed") or {}).get("speedup"),
                         "serving_rps_ratio": (served.get("rps") or {}).get("ratio"),
                         "serving_p99_ms": served.get("p99_ms")}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
