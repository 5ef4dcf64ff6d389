"""When a column counts as drifted: effect-size thresholds, the significance gate, the minimum sample.

With the sample sizes monitoring sees (thousands to millions of rows an hour)
every p-value is tiny, so significance alone would flag every feature: a
*threshold on the effect size* decides. The p-value, adjusted across features,
is the gate that keeps small samples from being flagged on noise (at 100 rows
a JS distance of 0.25 between two samples of one distribution is ordinary).
A statistic fires when its effect size is above its threshold **and** the
adjusted p-value of its column's test is below ``alpha``; a column drifts when
any of its statistics fires.

Defaults, and why:

- ``ks = 0.1``: the two distribution functions are 10 points apart somewhere
  (a shift of the mean by about a quarter of a standard deviation in a normal);
- ``wasserstein = 0.1`` (normalised by the reference's std): a shift of the mean
  by a tenth of a standard deviation moves it by exactly 0.1; the smallest
  change usually worth a look for a model input;
- ``psi = 0.2``: the middle of the usual rule of thumb (< 0.1 stable,
  0.1-0.25 moderate, > 0.25 large);
- ``js = 0.1``: e.g. 2% of the rows moving to categories the other side never
  has, or a category's share going from 30% to about 41% (of two categories);
- ``new_share = 0.02``: 2% of the current rows carry a category the reference
  never had (the model has not seen them);
- ``missing_rate = 0.02``: the share of missing values moved by 2 points;
- ``cramers_v``: reported, no threshold by default (JS measures the same change
  on a scale that does not depend on the number of categories);
- ``alpha = 0.05`` on Benjamini-Hochberg adjusted p-values (a false discovery
  rate across features; ``holm`` controls the family-wise rate instead);
- ``min_rows = 100`` non-missing values on each side (rows, for the missing
  rate): below that the result says "not enough data" instead of a verdict.

Any threshold may be ``None``: the statistic is still reported but never decides.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Sequence

import numpy as np

from mlplat.errors import ValidationError
from mlplat.stats import benjamini_hochberg, holm

Correction = Literal["benjamini_hochberg", "holm", "none"]
EFFECTS = ("ks", "wasserstein", "psi", "js", "cramers_v", "new_share", "missing_rate")


@dataclass(frozen=True)
class DriftThresholds:
    """Effect-size thresholds per statistic, the significance gate and the minimum sample (see module doc)."""

    ks: float | None = 0.1
    wasserstein: float | None = 0.1
    psi: float | None = 0.2
    js: float | None = 0.1
    cramers_v: float | None = None
    new_share: float | None = 0.02
    missing_rate: float | None = 0.02
    alpha: float = 0.05
    min_rows: int = 100
    correction: Correction = "benjamini_hochberg"

    def __post_init__(self) -> None:
        for name in EFFECTS:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value >= 0 and np.isfinite(value)):
                raise ValidationError(f"threshold {name} must be a number >= 0 or None, not {value!r}", setting=name)
        if not 0 < self.alpha < 1:
            raise ValidationError(f"alpha must lie in (0, 1), not {self.alpha!r}", setting="alpha")
        if not isinstance(self.min_rows, int) or self.min_rows < 1:
            raise ValidationError(f"min_rows must be a positive integer, not {self.min_rows!r}", setting="min_rows")
        if self.correction not in ("benjamini_hochberg", "holm", "none"):
            raise ValidationError(f"correction must be benjamini_hochberg, holm or none, not {self.correction!r}",
                                  setting="correction")

    def adjust(self, p_values: Sequence[float | None]) -> list[float | None]:
        """The family's adjusted p-values by the chosen correction (a missing p-value stays missing, uncounted)."""
        values = np.array([np.nan if p is None else p for p in p_values], dtype=np.float64)
        if self.correction != "none" and values.size:
            values = (benjamini_hochberg if self.correction == "benjamini_hochberg" else holm)(values)
        return [None if np.isnan(p) else float(p) for p in values]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["EFFECTS", "Correction", "DriftThresholds"]
