"""Epoch time of the sequence model on the CPU and on the GPU, same data: one JSON line.

Synthetic rows shaped like the purchase task's example set with events (20
events of type, category and price, one-hot as the pipeline gives them, plus a
few tabular columns). Each device trains ``--epochs`` epochs from the same
seed; the first epoch (CUDA start-up, cuDNN autotuning) is reported apart from
the steady ones. Without a GPU it says so and reports the CPU alone.
Usage: scripts/gpu_check.sh [--rows 200000] [--epochs 3] [--batch-size 1024]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlplat.models.deep.estimator import SequenceClassifier

TYPES = ["page_view", "search", "product_view", "add_to_cart", "purchase"]
CATEGORIES = [f"c{i}" for i in range(16)]


def synthetic(rows: int, steps: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    columns = ["x0", "x1", "device=ios", "device=android", "device=web"]
    blocks = [rng.normal(size=(rows, 2)), np.eye(3)[rng.integers(0, 3, rows)]]
    signal = blocks[0][:, 0] * 0.5
    for i in range(1, steps + 1):
        kind = rng.integers(0, len(TYPES), rows)
        category = rng.integers(0, len(CATEGORIES), rows)
        blocks += [np.eye(len(TYPES))[kind], np.eye(len(CATEGORIES))[category], rng.normal(size=(rows, 1))]
        columns += [f"ev{i}_event_type={t}" for t in TYPES] + [f"ev{i}_category={c}" for c in CATEGORIES]
        columns.append(f"ev{i}_price")
        signal = signal + (kind == 3) * 1.5 / i
    y = (rng.random(rows) < 1 / (1 + np.exp(-(signal - 1.5)))).astype(int)
    return np.hstack(blocks).astype(np.float32), y, columns


def epochs(device: str, x: np.ndarray, y: np.ndarray, columns: list[str], args: argparse.Namespace) -> dict:
    times: list[float] = []
    model = SequenceClassifier(max_epochs=args.epochs, patience=args.epochs, batch_size=args.batch_size,
                               device=device, columns=tuple(columns))
    began = [time.perf_counter()]

    def tick(point: dict) -> None:
        now = time.perf_counter()
        times.append(round(now - began[0], 3))
        began[0] = now

    model.fit(x, y, on_epoch=tick)
    out = {"epoch_s": times, "steady_epoch_s": round(float(np.mean(times[1:] or times)), 3),
           "device": model.device_, "mixed_precision": model.mixed_precision_,
           "val_loss": round(model.history_[-1]["val_loss"], 4)}
    # batch scoring as a Spark executor does it: on the accelerator when there is one, the same probabilities
    sample = x[:20_000]
    on_cpu = model.predict_proba(sample)
    out["scoring_device"] = model.use_accelerator()
    began[0] = time.perf_counter()
    scored = model.predict_proba(sample)
    out["scoring_s"] = round(time.perf_counter() - began[0], 3)
    out["scoring_max_abs_diff"] = float(np.abs(scored - on_cpu).max())
    return out


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args()
    x, y, columns = synthetic(args.rows)
    out: dict = {"check": "gpu", "rows": args.rows, "inputs": len(columns), "torch": torch.__version__,
                 "cpu_threads": torch.get_num_threads()}
    out["cpu"] = epochs("cpu", x, y, columns, args)
    if torch.cuda.is_available():
        out["gpu_name"] = torch.cuda.get_device_name(0)
        out["gpu"] = epochs("cuda", x, y, columns, args)
        out["speedup"] = round(out["cpu"]["steady_epoch_s"] / out["gpu"]["steady_epoch_s"], 2)
    else:
        out["gpu"] = None
        out["note"] = "no CUDA device here: CPU only"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
