"""Sample-ratio mismatch: is the traffic split the one that was configured?

Checked before any other number is read: if the arms received a share of
units far from their weights, assignment or logging is broken (a bot hitting
one arm, a crash in one model, a join that drops rows) and every lift
computed on that data is suspect. A chi-square goodness-of-fit test of the
observed units per arm against the configured weights; below ``threshold``
(0.001 by default, a level a working experiment rarely reaches by chance) the
result is flagged untrustworthy and the surfaces say so above every number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats

from mlplat.errors import ValidationError
from mlplat.experiments.analysis.result import JsonResult

DEFAULT_SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SRMResult(JsonResult):
    """The SRM check of one phase; ``p_value`` is None (with ``reason``) before any unit arrived."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float | None
    df: int
    p_value: float | None
    threshold: float
    untrustworthy: bool
    reason: str | None = None


def check_counts(observed: Sequence[int] | np.ndarray, name: str = "observed") -> np.ndarray:
    """Unit counts as an int array; negative or fractional counts are refused."""
    counts = np.asarray(observed, dtype=np.float64).reshape(-1)
    if counts.size == 0:
        raise ValidationError(f"{name} must name at least one arm", field=name)
    if np.any(~np.isfinite(counts)) or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValidationError(f"{name} must be non-negative whole counts, got {list(np.asarray(observed).tolist())}",
                              field=name)
    return counts.astype(np.int64)


def srm_check(observed: Sequence[int] | np.ndarray, weights: Sequence[float] | np.ndarray,
              threshold: float = DEFAULT_SRM_THRESHOLD) -> SRMResult:
    """Chi-square test of units per arm against the configured weights.

    ``weights`` need not sum to 1 (they are normalized), so expected counts
    from several bandit periods can be passed as they are. Arms with weight 0
    are left out of the test unless they received units, which is a mismatch
    outright (p = 0).
    """
    counts = check_counts(observed)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size != counts.size:
        raise ValidationError(f"{counts.size} observed counts but {w.size} weights", field="weights")
    if np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValidationError(f"weights must be non-negative with a positive sum, got {w.tolist()}", field="weights")
    if not 0 < threshold < 1:
        raise ValidationError(f"threshold must lie in (0, 1), got {threshold}", field="threshold")
    total = int(counts.sum())
    expected = w / w.sum() * total
    used = w > 0
    df = int(used.sum()) - 1
    base: dict[str, Any] = dict(observed=tuple(int(c) for c in counts),
                                expected=tuple(float(e) for e in expected), df=df,
                threshold=threshold)
    if total == 0:
        return SRMResult(chi2=None, p_value=None, untrustworthy=False, reason="no units yet", **base)
    if np.any(counts[~used] > 0):
        return SRMResult(chi2=None, p_value=0.0, untrustworthy=True,
                         reason="units reached an arm whose weight is 0", **base)
    if df == 0:
        return SRMResult(chi2=0.0, p_value=1.0, untrustworthy=False, reason="only one arm has traffic", **base)
    chi2 = float(np.sum((counts[used] - expected[used]) ** 2 / expected[used]))
    p_value = float(stats.chi2.sf(chi2, df))
    return SRMResult(chi2=chi2, p_value=p_value, untrustworthy=p_value < threshold, **base)


__all__ = ["DEFAULT_SRM_THRESHOLD", "SRMResult", "check_counts", "srm_check"]
