"""Data-parallel training on Spark: ``TorchDistributor`` runs one process per worker slot, gradients all-reduced.

``fit_distributed`` trains a torch-kind estimator exactly as ``fit`` does,
but in ``num_processes`` processes started by
``pyspark.ml.torch.distributor.TorchDistributor`` (``local_mode=True``: on
the driver, for one machine; ``False``: on the executors of any cluster).
Each process wraps the network in ``DistributedDataParallel`` (gloo on CPU,
NCCL on GPUs) and trains on its own interleaved shard of the training rows;
all of them score the same validation rows, so their early-stopping decisions
agree. Rank 0 writes the checkpoints and returns the trained estimator, which
is then the same picklable object a single-process fit gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlplat.errors import ValidationError, require


def _train_rank(estimator: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """What each process runs (cloudpickled by TorchDistributor): a DDP fit on this rank's shard."""
    import os
    import sys

    import torch
    import torch.distributed as dist

    from mlplat.models.deep import estimator as deep

    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    use_gpu = torch.cuda.is_available() and estimator.device in ("auto", "cuda")
    dist.init_process_group("nccl" if use_gpu else "gloo")
    try:
        if use_gpu:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            estimator.set_params(device=f"cuda:{local}")
        else:
            estimator.set_params(device="cpu")
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        if rank != 0:
            estimator.set_params(checkpoint_dir=None)
        fitted = deep.fit_shard(estimator, x, y, rank, world)
    finally:
        dist.destroy_process_group()
    if rank != 0:
        # Every rank's return value is written to the same output file after this function returns, and the
        # last writer wins: the other ranks leave without writing, so the file holds rank 0's model.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return fitted


def fit_distributed(estimator: Any, x: np.ndarray, y: np.ndarray, num_processes: int = 2,
                    local_mode: bool = True, use_gpu: bool = False) -> Any:
    """Train ``estimator`` (a torch kind) with ``num_processes`` data-parallel processes; returns it fitted."""
    require("pyspark", "spark")
    from pyspark.ml.torch.distributor import TorchDistributor

    from mlplat.models.deep import estimator as deep

    if num_processes < 1:
        raise ValidationError(f"num_processes must be at least 1, not {num_processes}")
    kinds = (deep.MLPClassifier, deep.MLPRegressor, deep.SequenceClassifier, deep.SequenceRegressor)
    if not isinstance(estimator, kinds):
        raise ValidationError(f"fit_distributed trains the torch kinds (mlp, sequence_gru), not {type(estimator)}")
    distributor = TorchDistributor(num_processes=num_processes, local_mode=local_mode, use_gpu=use_gpu)
    fitted = distributor.run(_train_rank, estimator, np.asarray(x), np.asarray(y))
    if fitted is None:
        raise ValidationError("distributed training returned nothing from rank 0; see the Spark logs")
    return fitted


__all__ = ["fit_distributed"]
