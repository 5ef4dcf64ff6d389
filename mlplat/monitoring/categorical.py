"""Drift statistics of one categorical column: two-sample chi-square, Jensen-Shannon distance, new and vanished.

- **Chi-square**: Pearson's test of homogeneity on the 2 x k contingency table
  (reference and current counts of every category seen on either side, new
  and vanished ones included), ``k - 1`` degrees of freedom, no continuity
  correction (Yates' correction only exists for k = 2 and is conservative; at
  monitoring sample sizes it changes nothing). A goodness-of-fit test against
  the reference's shares would treat those shares as exact and overstate
  significance when the reference is small; the two-sample test does not.
  Its effect size is Cramer's V, ``sqrt(chi2 / N)`` for two rows.
- **Jensen-Shannon distance**, log base 2: the square root of the JS
  divergence, in [0, 1] (0: same shares; 1: no category in common). It is the
  verdict's effect size: bounded, symmetric, defined when a category is absent
  from one side (unlike a KL divergence or PSI without smoothing).
- **New and vanished categories**: values seen only in current (the model
  never saw them in training) or only in the reference, with their share of
  rows.

The reference is kept as its category counts (:class:`CategoricalProfile`).
A profile of a very high-cardinality column keeps its ``max_categories`` most
frequent categories and pools the rest as "other": current values outside the
kept ones go to that pool too, so the tests stay valid, but "new" can no longer
be told apart from "rare in the reference" and is reported as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: New and vanished categories listed by name in a result (the counts and shares cover all of them).
LISTED = 20


@dataclass(frozen=True)
class CategoricalProfile:
    """Category counts of one reference column, most frequent first (JSON round trip: to_dict/from_dict)."""

    rows: int
    missing: int
    categories: list[Any]
    counts: np.ndarray
    other: int = 0  # reference rows in categories beyond the kept ones
    dropped: int = 0  # how many categories were pooled into ``other``

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "categorical", "rows": self.rows, "missing": self.missing, "categories": self.categories,
                "counts": self.counts.tolist(), "other": self.other, "dropped": self.dropped}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CategoricalProfile":
        return cls(int(data["rows"]), int(data["missing"]), list(data["categories"]),
                   np.asarray(data["counts"], dtype=np.int64), int(data.get("other", 0)), int(data.get("dropped", 0)))


def value_counts(values: Any) -> tuple[list[Any], np.ndarray, int, int]:
    """Categories, their counts, the row count and the missing count of a column.

    ``values``: a pyarrow (chunked) array, a pandas Series, a numpy array or a list. Nulls, None and NaN are
    missing; a dictionary-encoded column counts its decoded values.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = pa.array(np.asarray(values) if not isinstance(values, list) else values, from_pandas=True)
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if pa.types.is_floating(values.type):
        values = pc.if_else(pc.is_nan(values), pa.scalar(None, values.type), values)
    rows = len(values)
    counted = pc.value_counts(values)
    keys, counts = counted.field("values"), counted.field("counts").to_numpy(zero_copy_only=False)
    valid = keys.is_valid().to_numpy(zero_copy_only=False)
    missing = int(counts[~valid].sum())
    return keys.filter(pa.array(valid)).to_pylist(), counts[valid].astype(np.int64), rows, missing


def profile_counts(categories: list[Any], counts: np.ndarray, rows: int, missing: int,
                   max_categories: int | None = 10_000) -> CategoricalProfile:
    """A profile from counts: the most frequent first (ties by category text), pooled past ``max_categories``."""
    order = sorted(range(len(categories)), key=lambda i: (-int(counts[i]), str(categories[i])))
    kept = order if max_categories is None else order[:max_categories]
    other = int(counts[order[len(kept):]].sum()) if len(kept) < len(order) else 0
    return CategoricalProfile(rows, missing, [categories[i] for i in kept], counts[kept].astype(np.int64),
                              other, len(order) - len(kept))


def profile_categorical(values: Any, max_categories: int | None = 10_000) -> CategoricalProfile:
    """Profile a reference column (see :func:`value_counts` for what ``values`` may be)."""
    return profile_counts(*value_counts(values), max_categories=max_categories)


def chi_square_test(table: np.ndarray) -> tuple[float, int, float]:
    """Pearson's chi-square test of homogeneity of an r x k table of counts: statistic, dof, p-value.

    Columns that are empty on every row are dropped; a table left with one column gives (0, 0, 1).
    """
    from scipy.stats import chi2

    observed = np.asarray(table, dtype=np.float64)
    observed = observed[:, observed.sum(axis=0) > 0]
    rows, cols = observed.shape
    dof = (rows - 1) * (cols - 1)
    if dof == 0:
        return 0.0, 0, 1.0
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, dof, float(chi2.sf(statistic, dof))


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (log base 2, in [0, 1]) of two count or share vectors over the same categories."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p / m), 0.0) + np.where(q > 0, q * np.log2(q / m), 0.0)
    return float(np.sqrt(max(float(terms.sum()) / 2, 0.0)))


@dataclass(frozen=True)
class CategoricalStats:
    """The raw statistics of one categorical comparison (no verdict: see :mod:`mlplat.monitoring.report`)."""

    chi_square: float
    dof: int
    chi_square_p_value: float
    cramers_v: float
    js_distance: float
    new: list[Any] | None  # up to LISTED new categories, most frequent first; None when the profile is pooled
    new_count: int | None
    new_share: float | None  # of the current's non-missing rows
    vanished: list[Any]
    vanished_count: int
    vanished_share: float  # of the reference's non-missing rows
    shares: list[dict[str, Any]]  # top categories with both sides' shares, for plots


def compare_counts(profile: CategoricalProfile, categories: list[Any], counts: np.ndarray) -> CategoricalStats:
    """Compare current category counts (non-missing, at least one) with a profile that has values."""
    index = {category: i for i, category in enumerate(profile.categories)}
    k = len(profile.categories)
    cur = np.zeros(k + 1, dtype=np.int64)  # the last slot: pooled "other"
    new_names: list[tuple[int, Any]] = []
    for category, count in zip(categories, counts.tolist()):
        i = index.get(category)
        if i is not None:
            cur[i] += count
        elif profile.truncated:
            cur[k] += count
        else:
            new_names.append((count, category))
    new_names.sort(key=lambda item: (-item[0], str(item[1])))
    new_counts = np.array([c for c, _ in new_names], dtype=np.int64)
    ref = np.concatenate((profile.counts, [profile.other], np.zeros(new_counts.size, dtype=np.int64)))
    cur = np.concatenate((cur, new_counts))
    statistic, dof, p = chi_square_test(np.vstack((ref, cur)))
    total = ref.sum() + cur.sum()
    gone = np.flatnonzero((profile.counts > 0) & (cur[:k] == 0))
    ref_share, cur_share = ref / ref.sum(), cur / cur.sum()
    top = np.argsort(-np.maximum(ref_share, cur_share), kind="stable")[:LISTED]
    labels = [*profile.categories, "(other)", *[name for _, name in new_names]]
    return CategoricalStats(
        chi_square=statistic, dof=dof, chi_square_p_value=p, cramers_v=float(np.sqrt(statistic / total)),
        js_distance=js_distance(ref, cur),
        new=None if profile.truncated else [name for _, name in new_names[:LISTED]],
        new_count=None if profile.truncated else len(new_names),
        new_share=None if profile.truncated else float(new_counts.sum() / cur.sum()),
        vanished=[profile.categories[i] for i in gone[:LISTED]], vanished_count=int(gone.size),
        vanished_share=float(profile.counts[gone].sum() / ref.sum()),
        shares=[{"category": labels[i], "reference": float(ref_share[i]), "current": float(cur_share[i])}
                for i in top if ref[i] + cur[i] > 0],
    )


def categorical_drift_stats(reference: Any, current: Any) -> CategoricalStats:
    """The statistics of two columns of categories (see :func:`value_counts`; missing values dropped).

    Raises ``ValueError`` when either side has no non-missing value.
    """
    profile = profile_categorical(reference, max_categories=None)
    categories, counts, _, _ = value_counts(current)
    if profile.present == 0 or counts.sum() == 0:
        raise ValueError("both samples need at least one non-missing value")
    return compare_counts(profile, categories, counts)


__all__ = ["LISTED", "CategoricalProfile", "CategoricalStats", "categorical_drift_stats", "chi_square_test",
           "compare_counts", "js_distance", "profile_categorical", "profile_counts", "value_counts"]
