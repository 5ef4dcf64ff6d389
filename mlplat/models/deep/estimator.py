"""The scikit-learn face of the networks: ``fit``, ``predict``, ``predict_proba``, ``get_params``.

The pipeline's model stage, evaluation, tuning and batch scoring call these
exactly as they call XGBoost. What they add:

- ``columns`` (set by training from the model matrix's column names) tells
  the network which columns are one-hot blocks and which are event steps;
- ``fit`` carves a seeded validation split for early stopping and keeps the
  loop's per-epoch ``history_`` (the model service logs it to MLflow as
  curves); ``fit_stream`` trains from batches (the streaming Parquet loader)
  without the whole set in memory;
- ``predict*`` runs under ``torch.inference_mode`` on the CPU;
  ``serve_single_threaded`` is what the Inference Service calls in each
  worker process (replicas scale by processes, as for the other kinds).

A fitted estimator pickles with its network (weights on the CPU), so it
travels inside the cloudpickled Model Pipeline like any other.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from torch import nn

from mlplat.errors import ValidationError
from mlplat.models.deep.layout import SequenceLayout, TabularLayout, check_width
from mlplat.models.deep.loop import LoopConfig, pick_device, run_loop
from mlplat.models.deep.nets import MLPNet, SequenceNet

ArrayBatches = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]
OnEpoch = Callable[[dict[str, float]], None]


class _DeepEstimator(BaseEstimator):  # type: ignore[misc]
    sequence = False
    classifier = True

    def __init__(self, hidden: int = 64, layers: int = 2, dropout: float = 0.1, embedding_dim: int = 8,
                 gru_hidden: int = 32, lr: float = 1e-3, weight_decay: float = 0.0, batch_size: int = 256,
                 max_epochs: int = 30, patience: int = 3, validation_fraction: float = 0.1,
                 checkpoint_dir: str | None = None, device: str = "auto", random_state: int = 0,
                 columns: Sequence[str] = ()) -> None:
        self.hidden = hidden
        self.layers = layers
        self.dropout = dropout
        self.embedding_dim = embedding_dim
        self.gru_hidden = gru_hidden
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.random_state = random_state
        self.columns = columns

    # -- building -------------------------------------------------------------------------------
    def _names(self, width: int) -> list[str]:
        names = list(self.columns) or [f"x{i}" for i in range(width)]
        if len(names) != width:
            raise ValidationError(f"{type(self).__name__} was given {len(names)} column names for a matrix of "
                                  f"{width} columns")
        return names

    def _build(self, width: int, outputs: int) -> nn.Module:
        names = self._names(width)
        size: dict[str, Any] = {"embedding_dim": int(self.embedding_dim), "hidden": int(self.hidden),
                                "layers": int(self.layers), "dropout": float(self.dropout)}
        if not self.sequence:
            return MLPNet(TabularLayout.from_columns(names), outputs, **size)
        events = SequenceLayout.from_columns(names)
        if events is None:
            raise ValidationError(
                "sequence_gru needs event columns (ev1_event_type, ev1_price, ...): build the example set with "
                "events=... (the last N events per label row), or use the mlp kind"
            )
        return SequenceNet(TabularLayout.from_columns(names, skip=events.columns), events, outputs,
                           gru_hidden=int(self.gru_hidden), **size)

    def _targets(self, y: np.ndarray) -> tuple[torch.Tensor, nn.Module, int]:
        if self.classifier:
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValidationError("the target has a single class: nothing to learn")
            codes = np.searchsorted(self.classes_, y)
            return torch.as_tensor(codes, dtype=torch.long), nn.CrossEntropyLoss(), len(self.classes_)
        y = np.asarray(y, dtype=np.float64)
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std() or 1.0)
        scaled = (y - self.y_mean_) / self.y_scale_
        return torch.as_tensor(scaled, dtype=torch.float32).unsqueeze(1), nn.MSELoss(), 1

    def _loop_config(self, width: int, rows: int) -> LoopConfig:
        params = {k: v for k, v in self.get_params().items() if k not in ("checkpoint_dir", "device")}
        return LoopConfig(lr=float(self.lr), weight_decay=float(self.weight_decay), batch_size=int(self.batch_size),
                          max_epochs=int(self.max_epochs), patience=int(self.patience),
                          checkpoint_dir=self.checkpoint_dir, device=str(self.device),
                          fingerprint={"kind": type(self).__name__, "params": params, "width": width, "rows": rows})

    def _finish(self, result: Any) -> "_DeepEstimator":
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.resumed_from_ = result.resumed_from
        self.device_ = result.device
        self.mixed_precision_ = result.mixed_precision
        return self

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, x: np.ndarray, y: np.ndarray, on_epoch: OnEpoch | None = None) -> "_DeepEstimator":
        """Train on arrays: a seeded ``validation_fraction`` of the rows decides early stopping.

        ``on_epoch`` gets each finished epoch's point (a notebook's progress bar and loss curve).
        """
        return self._fit_arrays(x, y, on_epoch, 0, 1)

    def _fit_arrays(self, x: np.ndarray, y: np.ndarray, on_epoch: OnEpoch | None, rank: int,
                    world: int) -> "_DeepEstimator":
        x = np.asarray(x, dtype=np.float32)
        check_width(x, self.columns)
        torch.manual_seed(int(self.random_state))
        target, loss_fn, outputs = self._targets(np.asarray(y))
        order = np.random.default_rng(int(self.random_state)).permutation(len(x))
        n_val = max(1, int(round(len(x) * float(self.validation_fraction))))
        if len(x) - n_val < 2 * world:
            raise ValidationError(f"{len(x)} rows are too few to train a network and hold out a validation split")
        val, fit_rows = order[:n_val], order[n_val:]
        if world > 1:  # equal shards: a rank with one more batch than the others would wait forever
            fit_rows = fit_rows[rank::world][: len(fit_rows) // world]
        features = torch.as_tensor(np.nan_to_num(x))
        self.net_ = self._build(x.shape[1], outputs)
        net = self.net_
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            device = pick_device(str(self.device))
            net = DistributedDataParallel(self.net_.to(device), device_ids=[device.index] if device.index is not None
                                          else None)
        generator = torch.Generator().manual_seed(int(self.random_state) + rank)
        size = int(self.batch_size)

        def batches() -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
            rows = torch.as_tensor(fit_rows)[torch.randperm(len(fit_rows), generator=generator)]
            for i in range(0, len(rows), size):
                pick = rows[i:i + size]
                yield features[pick], target[pick]

        result = run_loop(net, loss_fn, batches, (features[val], target[val]),
                          self._loop_config(x.shape[1], len(x)), on_epoch)
        self.net_.to("cpu").eval()
        return self._finish(result)

    def fit_stream(self, batches: ArrayBatches, validation: tuple[np.ndarray, np.ndarray],
                   classes: Sequence[Any] | None = None, on_epoch: OnEpoch | None = None) -> "_DeepEstimator":
        """Train from ``batches()`` (called once per epoch, e.g. a ``ParquetBatches``): memory is one batch.

        ``validation`` is a held-out sample in memory; ``classes`` (all the target's classes) comes from the
        example set's statistics, since a stream cannot be scanned for them first.
        """
        x_val = np.asarray(validation[0], dtype=np.float32)
        check_width(x_val, self.columns)
        torch.manual_seed(int(self.random_state))
        if self.classifier:
            self.classes_ = np.asarray(sorted(classes) if classes is not None else np.unique(validation[1]))
            loss_fn: nn.Module = nn.CrossEntropyLoss()
            outputs = len(self.classes_)
        else:
            self.y_mean_, self.y_scale_ = float(np.mean(validation[1])), float(np.std(validation[1]) or 1.0)
            loss_fn, outputs = nn.MSELoss(), 1
        self.net_ = self._build(x_val.shape[1], outputs)

        def tensors() -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
            for xb, yb in batches():
                yield torch.as_tensor(np.nan_to_num(np.asarray(xb, dtype=np.float32))), self._encode(yb)

        result = run_loop(self.net_, loss_fn, tensors, (torch.as_tensor(np.nan_to_num(x_val)),
                                                        self._encode(validation[1])),
                          self._loop_config(x_val.shape[1], -1), on_epoch)
        return self._finish(result)

    def _encode(self, y: np.ndarray) -> torch.Tensor:
        y = np.asarray(y)
        if self.classifier:
            codes = np.searchsorted(self.classes_, y)
            if np.any(codes >= len(self.classes_)) or np.any(self.classes_[np.minimum(codes, len(self.classes_) - 1)]
                                                              != y):
                raise ValidationError(f"the stream has target values outside the classes {list(self.classes_)}")
            return torch.as_tensor(codes, dtype=torch.long)
        return torch.as_tensor((y.astype(np.float64) - self.y_mean_) / self.y_scale_,
                               dtype=torch.float32).unsqueeze(1)

    # -- predicting -----------------------------------------------------------------------------
    def _forward(self, x: np.ndarray) -> torch.Tensor:
        if not hasattr(self, "net_"):
            raise ValidationError(f"{type(self).__name__} is not fitted: call fit first")
        x = np.asarray(x, dtype=np.float32)
        check_width(x, self.columns)
        device = self.__dict__.get("accelerator_")
        with torch.inference_mode():
            if device is None:
                out: torch.Tensor = self.net_(torch.as_tensor(np.nan_to_num(x)))
                return out.float()
            # an accelerator (batch scoring): batches of rows, so the copies to and from the device pay off
            out = self.net_(torch.as_tensor(np.nan_to_num(x)).to(device, non_blocking=True))
            return out.float().cpu()

    def serve_single_threaded(self) -> None:
        """One intra-op thread in this process: the Inference Service scales by worker processes."""
        torch.set_num_threads(1)

    def use_accelerator(self) -> str:
        """Predict on this process's CUDA device when it has one (batch scoring on a Spark executor with a GPU).

        Returns the device predictions run on: ``"cpu"`` where there is none (nothing changes). The Inference
        Service does not call it: one row per request gains nothing from a device round trip.
        """
        if not hasattr(self, "net_") or not torch.cuda.is_available():
            return "cpu"
        device = torch.device("cuda", torch.cuda.current_device())
        self.net_.to(device)
        self.__dict__["accelerator_"] = device
        return str(device)

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = dict(super().__getstate__())  # scikit-learn's (it records its version)
        if "accelerator_" in state:  # a pickle holds the network on the CPU, wherever it predicted last
            state.pop("accelerator_")
            state["net_"] = _on_cpu(state["net_"])
        return state


class _Classifier(ClassifierMixin, _DeepEstimator):  # type: ignore[misc]
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            proba: np.ndarray = torch.softmax(self._forward(x), dim=1).numpy().astype(np.float64)
        return proba

    def predict(self, x: np.ndarray) -> np.ndarray:
        result: np.ndarray = self.classes_[self.predict_proba(x).argmax(axis=1)]
        return result


class _Regressor(RegressorMixin, _DeepEstimator):  # type: ignore[misc]
    classifier = False

    def predict(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = self._forward(x).numpy()[:, 0].astype(np.float64) * self.y_scale_ + self.y_mean_
        return out


class MLPClassifier(_Classifier):
    """A tabular MLP with embeddings for one-hot blocks (see ``layout``)."""


class MLPRegressor(_Regressor):
    """A tabular MLP with embeddings for one-hot blocks (see ``layout``)."""


class SequenceClassifier(_Classifier):
    """A GRU over the last N events (``ev<i>_`` columns) joined with the tabular MLP."""

    sequence = True


class SequenceRegressor(_Regressor):
    """A GRU over the last N events (``ev<i>_`` columns) joined with the tabular MLP."""

    sequence = True


def _on_cpu(net: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(net).to("cpu")


def fit_shard(estimator: _DeepEstimator, x: np.ndarray, y: np.ndarray, rank: int, world: int) -> _DeepEstimator:
    """One data-parallel rank's fit (``distributed``): its shard of the rows, the network in DDP."""
    return estimator._fit_arrays(x, y, None, rank, world)


__all__ = ["MLPClassifier", "MLPRegressor", "SequenceClassifier", "SequenceRegressor", "fit_shard"]
