"""Deterministic assignment: which arm a unit is in, as a pure function of its id.

Every Inference Service worker must put a user in the same arm on every
request, with no shared state and no network call: the arm is a hash of the
experiment's seed and the user's id. The hash is 32-bit FNV-1a over the
characters' code points, in GrowthBook's version 2 form
``n = fnv1a32(str(fnv1a32(seed + id))) % 10000 / 10000`` (hashing the decimal
text of a first hash breaks the correlation between experiments whose seeds
differ only slightly), so an id lands in the same bucket as GrowthBook's SDKs
would put it. Version 1 (``fnv1a32(id + seed) % 1000 / 1000``) is kept for
layers, which use it with the seed ``"__" + layer``.

Arms own ranges of [0, 1): arm i starts at the sum of the weights before it
and is ``coverage * weight_i`` long. Lowering coverage therefore only shrinks
each range from its end: a unit can drop out of the experiment but never moves
to another arm. Units outside every range (or outside the targeting, or
outside the experiment's slice of its layer) get control and ``arm: None``.

A layer makes experiments mutually exclusive: each takes a slice
``[start, end)`` of the layer's own hash, so two experiments with disjoint
slices never share a unit, and the experiment's hash stays independent of it.

``hash_many``/``assign_many`` do the same over arrays of ids with numpy, for
simulations and batch jobs that assign millions of units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from mlplat.errors import ValidationError
from mlplat.experiments.targeting import Targeting

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF
HASH_VERSIONS = (1, 2)
WEIGHT_TOLERANCE = 1e-6


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a over the code points of ``text``."""
    h = FNV_OFFSET
    for char in text:
        h = ((h ^ ord(char)) * FNV_PRIME) & _MASK
    return h


def hash_unit(seed: str, value: str, version: int = 2) -> float:
    """The unit's position in [0, 1) for this seed."""
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    raise ValidationError(f"hash version must be 1 or 2, got {version!r}", field="hash_version")


def check_weights(weights: Sequence[float]) -> tuple[float, ...]:
    w = tuple(float(x) for x in weights)
    if not w:
        raise ValidationError("weights: an experiment needs at least one arm", field="weights")
    if any(not math.isfinite(x) or x < 0 for x in w):
        raise ValidationError(f"weights must be non-negative numbers, got {list(weights)}", field="weights")
    if abs(sum(w) - 1.0) > WEIGHT_TOLERANCE:
        raise ValidationError(f"weights must sum to 1, got {list(weights)} (sum {sum(w):.6g})", field="weights")
    return w


def check_coverage(coverage: float) -> float:
    if isinstance(coverage, bool) or not isinstance(coverage, (int, float)) or not 0.0 <= coverage <= 1.0:
        raise ValidationError(f"coverage must lie in [0, 1], got {coverage!r}", field="coverage")
    return float(coverage)


def bucket_ranges(weights: Sequence[float], coverage: float = 1.0) -> tuple[tuple[float, float], ...]:
    """Arm i's range ``[start_i, start_i + coverage * w_i)`` with ``start_i`` the cumulative weight before it."""
    w, c = check_weights(weights), check_coverage(coverage)
    starts = np.concatenate([[0.0], np.cumsum(w)[:-1]])
    return tuple((float(s), float(s + c * x)) for s, x in zip(starts, w))


def choose_arm(n: float, ranges: Sequence[tuple[float, float]]) -> int | None:
    """The arm whose range holds ``n``, or None (outside coverage)."""
    for i, (start, end) in enumerate(ranges):
        if start <= n < end:
            return i
    return None


@dataclass(frozen=True)
class LayerSlice:
    """The experiment's share ``[start, end)`` of the layer ``name``."""

    name: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError("a layer needs a name", field="layer")
        if not (isinstance(self.start, (int, float)) and isinstance(self.end, (int, float))
                and 0.0 <= self.start < self.end <= 1.0):
            raise ValidationError(f"layer slice must satisfy 0 <= start < end <= 1, got [{self.start}, {self.end})",
                                  field="layer")

    def contains(self, entity_id: str) -> bool:
        return self.start <= hash_unit("__" + self.name, entity_id, 1) < self.end

    def overlaps(self, other: "LayerSlice") -> bool:
        """Two slices of one layer share units when their ranges intersect."""
        return self.name == other.name and self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Assignment:
    """``arm`` is the arm's index, or None with ``reason`` saying why the unit gets control outside the test."""

    arm: int | None
    reason: str  # assigned | no_entity_id | not_targeted | outside_layer | outside_coverage
    hash: float | None = None


@dataclass(frozen=True)
class AssignmentSpec:
    """What assignment needs to know about one phase of an experiment.

    ``targeting`` may be given as its stored JSON (a dict); it is parsed here, so a bad rule fails at creation.
    """

    seed: str
    weights: tuple[float, ...]
    coverage: float = 1.0
    layer: LayerSlice | None = None
    targeting: Targeting = field(default_factory=Targeting)
    hash_version: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.seed, str):
            raise ValidationError(f"seed must be a string, got {type(self.seed).__name__}", field="seed")
        if self.hash_version not in HASH_VERSIONS:
            raise ValidationError(f"hash version must be 1 or 2, got {self.hash_version!r}", field="hash_version")
        object.__setattr__(self, "weights", check_weights(self.weights))
        object.__setattr__(self, "coverage", check_coverage(self.coverage))
        if isinstance(self.targeting, Mapping) or self.targeting is None:
            object.__setattr__(self, "targeting", Targeting.parse(self.targeting))
        object.__setattr__(self, "_ranges", bucket_ranges(self.weights, self.coverage))

    @property
    def ranges(self) -> tuple[tuple[float, float], ...]:
        return self._ranges  # type: ignore[attr-defined]


def assign(spec: AssignmentSpec, entity_id: Any, attributes: Mapping[str, Any] | None = None) -> Assignment:
    """The arm of one unit: targeting, then the layer slice, then the experiment's hash and ranges."""
    if entity_id is None or entity_id == "":
        return Assignment(None, "no_entity_id")
    key = str(entity_id)
    if not spec.targeting.matches(attributes):
        return Assignment(None, "not_targeted")
    if spec.layer is not None and not spec.layer.contains(key):
        return Assignment(None, "outside_layer")
    n = hash_unit(spec.seed, key, spec.hash_version)
    arm = choose_arm(n, spec.ranges)
    return Assignment(arm, "assigned" if arm is not None else "outside_coverage", n)


# -- vectorized -----------------------------------------------------------------
def _fnv_columns(h: np.ndarray, codes: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Continue FNV-1a states ``h`` (uint64) over the code-point matrix ``codes``.

    Rows shorter than ``lengths`` stop early."""
    if lengths is not None and lengths.size and lengths.min() == codes.shape[1]:
        lengths = None  # all ids equally long: no row stops early
    for j in range(codes.shape[1]):
        step = ((h ^ codes[:, j]) * FNV_PRIME) & _MASK
        h = step if lengths is None else np.where(j < lengths, step, h)
    return h


def _fnv_text(h: np.ndarray, text: str) -> np.ndarray:
    for char in text:
        h = ((h ^ ord(char)) * FNV_PRIME) & _MASK
    return h


def _code_points(ids: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    texts = np.asarray(ids).astype(str)
    if texts.ndim != 1:
        raise ValidationError("ids must be one-dimensional", field="ids")
    width = texts.dtype.itemsize // 4
    codes = texts.view(np.uint32).reshape(texts.size, max(width, 1)).astype(np.uint64)
    lengths = np.char.str_len(texts)
    return codes, lengths


def _decimal_hash(h: np.ndarray) -> np.ndarray:
    """fnv1a32 of each value's decimal text."""
    digits = np.ones(h.shape, dtype=np.int64)
    for power in range(1, 10):
        digits += h >= np.uint64(10**power)
    out = np.full(h.shape, FNV_OFFSET, dtype=np.uint64)
    for position in range(10):
        exponent = digits - 1 - position
        digit = (h // np.power(10, np.maximum(exponent, 0)).astype(np.uint64)) % 10
        step = ((out ^ (digit + 48)) * FNV_PRIME) & _MASK
        out = np.where(exponent >= 0, step, out)
    return out


def hash_many(seed: str, ids: Sequence[Any] | np.ndarray, version: int = 2) -> np.ndarray:
    """``hash_unit(seed, str(id), version)`` for every id, as a float array."""
    codes, lengths = _code_points(ids)
    if version == 2:
        start = np.full(codes.shape[0], fnv1a32(seed), dtype=np.uint64)
        return (_decimal_hash(_fnv_columns(start, codes, lengths)) % 10000).astype(np.float64) / 10000
    if version == 1:
        h = _fnv_columns(np.full(codes.shape[0], FNV_OFFSET, dtype=np.uint64), codes, lengths)
        return (_fnv_text(h, seed) % 1000).astype(np.float64) / 1000
    raise ValidationError(f"hash version must be 1 or 2, got {version!r}", field="hash_version")


def arms_of(n: np.ndarray, ranges: Sequence[tuple[float, float]]) -> np.ndarray:
    """Arm index per hash value, -1 outside every range."""
    out = np.full(n.shape, -1, dtype=np.int64)
    for i, (start, end) in enumerate(ranges):
        out[(n >= start) & (n < end) & (out < 0)] = i
    return out


def assign_many(spec: AssignmentSpec, ids: Sequence[Any] | np.ndarray,
                attributes: Mapping[str, Sequence[Any] | np.ndarray] | None = None) -> np.ndarray:
    """Arm index per id (-1: control outside the experiment), the same answers as ``assign``."""
    arms = arms_of(hash_many(spec.seed, ids, spec.hash_version), spec.ranges)
    keep = np.asarray(ids).astype(str) != ""  # no id: no assignment, as in ``assign``
    if spec.targeting:
        keep &= spec.targeting.mask(attributes or {}, arms.size)
    if spec.layer is not None:
        n = hash_many("__" + spec.layer.name, ids, 1)
        keep &= (n >= spec.layer.start) & (n < spec.layer.end)
    return np.where(keep, arms, -1)


__all__ = ["Assignment", "AssignmentSpec", "FNV_OFFSET", "FNV_PRIME", "HASH_VERSIONS", "LayerSlice", "arms_of",
           "assign", "assign_many", "bucket_ranges", "check_coverage", "check_weights", "choose_arm", "fnv1a32",
           "hash_many", "hash_unit"]
