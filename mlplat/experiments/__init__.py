"""Managed Experiments: assignment, analyses and bandits.

This package holds the pure parts every surface builds on: deterministic
assignment (``assignment``, ``targeting``), per-arm sufficient statistics
(``sufficient``), the analyses (``analysis``) and Thompson-sampling weights
(``bandits``). None of them does I/O; the experiment's storage, the Inference
Service's use of assignment and the outcomes job call them.
"""

from mlplat.experiments.assignment import (
    Assignment,
    AssignmentSpec,
    LayerSlice,
    assign,
    assign_many,
    bucket_ranges,
    choose_arm,
    fnv1a32,
    hash_many,
    hash_unit,
)
from mlplat.experiments.bandits import BanditConfig, WeightRecord, allocate, apply_floor, thompson_update
from mlplat.experiments.sufficient import SufficientStats
from mlplat.experiments.targeting import Targeting

__all__ = [
    "Assignment", "AssignmentSpec", "BanditConfig", "LayerSlice", "SufficientStats", "Targeting", "WeightRecord",
    "allocate", "apply_floor", "assign", "assign_many", "bucket_ranges", "choose_arm", "fnv1a32", "hash_many",
    "hash_unit", "thompson_update",
]
