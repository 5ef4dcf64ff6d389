"""The training loop: epochs over batches, early stopping on a validation split, per-epoch checkpoints.

- **Device**: CUDA when present (``device="auto"``) with mixed precision
  (``torch.autocast`` in float16 and a gradient scaler), the CPU otherwise.
- **Early stopping**: the validation loss after each epoch; the best weights
  are kept and restored when ``patience`` epochs pass without improving.
- **Checkpoints**: with a checkpoint folder, every finished epoch writes
  ``last.pt`` (weights, optimizer, best weights, history, RNG state) by an
  atomic rename, so a run killed mid-epoch resumes at the epoch after the last
  finished one. A folder holding another run's checkpoint is refused, not
  silently mixed in.
- **Out of memory** (GPU or host) becomes one clear error naming the batch
  size that failed and what to try.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn

from mlplat.errors import ValidationError

Batches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
CHECKPOINT = "last.pt"
EVAL_BATCH = 4096  # rows per validation forward pass


@dataclass
class LoopConfig:
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    max_epochs: int = 30
    patience: int = 3
    checkpoint_dir: str | None = None
    device: str = "auto"
    fingerprint: dict[str, Any] = field(default_factory=dict)  # what the run is: a checkpoint must match it


@dataclass
class LoopResult:
    history: list[dict[str, float]]
    best_epoch: int
    resumed_from: int  # the last finished epoch found in a checkpoint (0: started fresh)
    device: str
    mixed_precision: bool


def pick_device(wanted: str = "auto") -> torch.device:
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise ValidationError(f"device {wanted!r} asked for, but this machine has no CUDA device; use 'auto' or 'cpu'")
    if wanted != "cpu" and not wanted.startswith("cuda"):
        raise ValidationError(f"device must be 'auto', 'cpu' or 'cuda[:n]', not {wanted!r}")
    return torch.device(wanted)


def out_of_memory(exc: BaseException, batch_size: int, device: torch.device) -> ValidationError | None:
    """The error to raise for an allocation failure, or None when ``exc`` is something else."""
    text = str(exc)
    if not (isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text.lower()
            or "can't allocate memory" in text.lower()):
        return None
    where = "GPU" if device.type == "cuda" else "host"
    return ValidationError(
        f"out of {where} memory training with batch_size={batch_size}: lower batch_size "
        f"(e.g. {max(1, batch_size // 2)}) or the network's size (hidden, gru_hidden)",
        batch_size=batch_size, device=str(device),
    )


def _digest(fingerprint: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _load_checkpoint(config: LoopConfig) -> dict[str, Any] | None:
    if not config.checkpoint_dir:
        return None
    path = os.path.join(config.checkpoint_dir, CHECKPOINT)
    if not os.path.exists(path):
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("digest") != _digest(config.fingerprint):
        raise ValidationError(
            f"checkpoint folder {config.checkpoint_dir} holds another run's checkpoint (other data or parameters); "
            "give an empty folder, or delete it to start over", checkpoint_dir=config.checkpoint_dir,
        )
    return state


def _save_checkpoint(config: LoopConfig, state: dict[str, Any]) -> None:
    assert config.checkpoint_dir
    os.makedirs(config.checkpoint_dir, exist_ok=True)
    path = os.path.join(config.checkpoint_dir, CHECKPOINT)
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save({**state, "digest": _digest(config.fingerprint)}, tmp)
    os.replace(tmp, path)  # a kill leaves the previous epoch's file whole


def _cpu_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def run_loop(
    net: nn.Module,
    loss_fn: nn.Module,
    train: Batches,
    validation: tuple[torch.Tensor, torch.Tensor],
    config: LoopConfig,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> LoopResult:
    """Train ``net`` in place; it ends holding the best epoch's weights, on the CPU."""
    device = pick_device(config.device)
    amp = device.type == "cuda"
    net.to(device)
    # foreach: one multi-tensor update per step instead of a loop over the parameters (the CPU default)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True)
    step = (_amp_step(net, loss_fn, optimizer, torch.amp.GradScaler("cuda"), device) if amp
            else _plain_step(net, loss_fn, optimizer))
    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state, start = math.inf, 0, _cpu_state(net), 1
    saved = _load_checkpoint(config)
    if saved is not None:
        net.load_state_dict(saved["net"])
        optimizer.load_state_dict(saved["optimizer"])
        best_loss, best_epoch, best_state = saved["best_loss"], saved["best_epoch"], saved["best_state"]
        history, start = saved["history"], saved["epoch"] + 1
        torch.set_rng_state(saved["rng"])
    resumed_from = start - 1
    x_val, y_val = (t.to(device) for t in validation)
    for epoch in range(start, config.max_epochs + 1):
        if epoch - best_epoch > config.patience and best_epoch > 0:
            break
        net.train()
        summed, rows = torch.zeros((), device=device), 0
        try:
            for xb, yb in train():
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                summed += step(xb, yb) * len(xb)  # a tensor: no device sync per batch
                rows += len(xb)
            total = float(summed)
            val_loss = evaluate_loss(net, loss_fn, x_val, y_val, config.batch_size, amp)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            error = out_of_memory(exc, config.batch_size, device)
            if error is None:
                raise
            raise error from None
        point = {"epoch": float(epoch), "train_loss": total / max(rows, 1), "val_loss": val_loss}
        history.append(point)
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch, best_state = val_loss, epoch, _cpu_state(net)
        if on_epoch is not None:
            on_epoch(point)
        if config.checkpoint_dir:
            _save_checkpoint(config, {"epoch": epoch, "net": _cpu_state(net), "optimizer": optimizer.state_dict(),
                                      "best_loss": best_loss, "best_epoch": best_epoch, "best_state": best_state,
                                      "history": history, "rng": torch.get_rng_state()})
    net.load_state_dict(best_state)
    net.to("cpu").eval()
    return LoopResult(history, best_epoch, resumed_from, str(device), amp)


Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _plain_step(net: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer) -> Step:
    def step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss: torch.Tensor = loss_fn(net(xb), yb)
        loss.backward()
        optimizer.step()
        return loss.detach()
    return step


def _amp_step(net: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
              device: torch.device) -> Step:
    """Mixed precision on CUDA: float16 forward under autocast, the loss scaled against underflow."""
    def step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16):
            loss: torch.Tensor = loss_fn(net(xb), yb)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss.detach().float()
    return step


def evaluate_loss(net: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                  amp: bool) -> float:
    net.eval()
    total = 0.0
    size = max(batch_size, EVAL_BATCH)  # no gradients kept: bigger slices, fewer calls
    with torch.inference_mode(), torch.autocast(device_type=x.device.type, dtype=torch.float16, enabled=amp):
        for i in range(0, len(x), size):
            total += float(loss_fn(net(x[i:i + size]), y[i:i + size])) * len(x[i:i + size])
    return total / max(len(x), 1)


__all__ = ["Batches", "LoopConfig", "LoopResult", "evaluate_loss", "out_of_memory", "pick_device", "run_loop"]
