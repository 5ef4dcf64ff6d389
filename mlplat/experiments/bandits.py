"""Thompson-sampling bandits: traffic weights that follow the evidence.

A bandit experiment moves traffic toward the arm that is doing best while it
runs, so fewer users see a losing arm (less regret) at the price of a less
clean comparison. Conversion rewards with Beta posteriors
(``Beta(a0 + successes, b0 + failures)``); on each update (a scheduled job,
e.g. hourly) an arm's new weight is the posterior probability that it is the
best arm, ``P(arm k best) = integral f_k prod_{j != k} F_j``, which is the
share of traffic per-request Thompson sampling would give it, computed
exactly by quadrature so that a batch of assignments by hash can follow it
deterministically. Two guards:

- burn-in: an even split until every arm has ``burn_in`` units, so that a
  lucky first hour does not starve an arm;
- a floor: every arm keeps at least ``min_weight`` (the others shrink in
  proportion), so the posterior of a starved arm can still recover.

Every update is a ``WeightRecord``; the history of records is what the
experiment stores and plots, and what the sample-ratio check compares
observed traffic against (``expected_units``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from mlplat.errors import ValidationError
from mlplat.experiments.analysis.bayesian import prob_best_beta
from mlplat.experiments.analysis.result import JsonResult

Phase = Literal["burn_in", "thompson"]


@dataclass(frozen=True)
class BanditConfig(JsonResult):
    """How a bandit turns outcomes into weights."""

    prior: tuple[float, float] = (1.0, 1.0)
    burn_in: int = 100  # units per arm before the weights follow the posteriors
    min_weight: float = 0.01  # each arm's floor

    def __post_init__(self) -> None:
        if (not isinstance(self.prior, (tuple, list)) or len(self.prior) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in self.prior)):
            raise ValidationError(f"prior must be two positive numbers (a0, b0), got {self.prior!r}", field="prior")
        object.__setattr__(self, "prior", (float(self.prior[0]), float(self.prior[1])))
        if isinstance(self.burn_in, bool) or not isinstance(self.burn_in, int) or self.burn_in < 0:
            raise ValidationError(f"burn_in must be a non-negative integer, got {self.burn_in!r}", field="burn_in")
        if not isinstance(self.min_weight, (int, float)) or not 0 <= self.min_weight < 1:
            raise ValidationError(f"min_weight must lie in [0, 1), got {self.min_weight!r}", field="min_weight")


@dataclass(frozen=True)
class WeightRecord(JsonResult):
    """One update of a bandit's weights, with the evidence it was made from."""

    at: str | None  # ISO timestamp given by the caller (this module does no I/O and reads no clock)
    phase: str
    weights: tuple[float, ...]
    trials: tuple[int, ...]
    successes: tuple[int, ...]
    chance_to_be_best: tuple[float, ...] | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "WeightRecord":
        try:
            best = data.get("chance_to_be_best")
            return cls(at=data.get("at"), phase=str(data["phase"]), weights=tuple(float(w) for w in data["weights"]),
                       trials=tuple(int(t) for t in data["trials"]), successes=tuple(int(s) for s in data["successes"]),
                       chance_to_be_best=None if best is None else tuple(float(p) for p in best))
        except KeyError as missing:
            raise ValidationError(f"a weight record needs {missing.args[0]!r}", field=missing.args[0]) from None


def thompson_update(prior: tuple[float, float], rewards: Sequence[int]) -> tuple[float, float]:
    """The Beta posterior after 0/1 rewards: a += r, b += 1 - r."""
    r = np.asarray(rewards)
    if r.size and not np.all((r == 0) | (r == 1)):
        raise ValidationError("rewards must be 0 or 1", field="rewards")
    wins = int(r.sum())
    return float(prior[0]) + wins, float(prior[1]) + int(r.size) - wins


def apply_floor(weights: Sequence[float] | np.ndarray, min_weight: float) -> np.ndarray:
    """Weights with every arm at ``min_weight`` or more, summing to 1; arms above the floor keep their proportions."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValidationError(f"weights must be non-negative with a positive sum, got {list(w)}", field="weights")
    if min_weight * w.size > 1 + 1e-12:
        raise ValidationError(f"min_weight {min_weight} is more than 1/{w.size} arms allow", field="min_weight")
    w = w / w.sum()
    pinned = np.zeros(w.size, dtype=bool)
    while True:
        free = ~pinned
        room = 1.0 - min_weight * pinned.sum()
        mass = w[free].sum()
        scaled = w[free] / mass * room if mass > 0 else np.full(free.sum(), room / free.sum())
        below = scaled < min_weight
        if not below.any():
            out = np.full(w.size, min_weight)
            out[free] = scaled
            return out
        pinned[np.flatnonzero(free)[below]] = True


def _counts(successes: Sequence[int], trials: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    s, t = np.asarray(successes), np.asarray(trials)
    if s.shape != t.shape or s.ndim != 1 or s.size < 2:
        raise ValidationError("successes and trials must be equally long, one per arm, at least two arms",
                              field="trials")
    if np.any(t < 0) or np.any(s < 0) or np.any(s > t) or np.any(s != np.round(s)) or np.any(t != np.round(t)):
        raise ValidationError(f"counts must be whole, non-negative, successes <= trials; got successes={s.tolist()}, "
                              f"trials={t.tolist()}", field="successes")
    return s.astype(np.int64), t.astype(np.int64)


def allocate(successes: Sequence[int], trials: Sequence[int], config: BanditConfig = BanditConfig(),
             at: str | None = None) -> WeightRecord:
    """The next weights from cumulative successes and trials per arm."""
    s, t = _counts(successes, trials)
    k = s.size
    if config.min_weight * k > 1:
        raise ValidationError(f"min_weight {config.min_weight} is more than 1/{k} arms allow", field="min_weight")
    if t.min() < config.burn_in:
        return WeightRecord(at, "burn_in", tuple([1.0 / k] * k), tuple(t.tolist()), tuple(s.tolist()), None)
    best = prob_best_beta(config.prior[0] + s, config.prior[1] + t - s)
    weights = apply_floor(best, config.min_weight)
    return WeightRecord(at, "thompson", tuple(float(w) for w in weights), tuple(t.tolist()), tuple(s.tolist()),
                        tuple(float(p) for p in best))


def prob_best_monte_carlo(a: Sequence[float], b: Sequence[float], draws: int = 100_000, seed: int = 3) -> np.ndarray:
    """P(arm best) by sampling (a cross-check of the quadrature; seeded, so repeatable)."""
    rng = np.random.default_rng(seed)
    samples = rng.beta(np.asarray(a, dtype=np.float64)[:, None], np.asarray(b, dtype=np.float64)[:, None],
                       (len(a), draws))
    return np.bincount(samples.argmax(axis=0), minlength=len(a)) / draws


def expected_units(history: Sequence[WeightRecord], units_per_period: Sequence[int]) -> np.ndarray:
    """Units each arm should have received when period i ran on ``history[i].weights`` with that many units."""
    if len(history) != len(units_per_period) or not history:
        raise ValidationError("one unit count per weight record is needed", field="units_per_period")
    return np.sum([np.asarray(r.weights) * n for r, n in zip(history, units_per_period)], axis=0)


__all__ = ["BanditConfig", "Phase", "WeightRecord", "allocate", "apply_floor", "expected_units",
           "prob_best_monte_carlo", "thompson_update"]
