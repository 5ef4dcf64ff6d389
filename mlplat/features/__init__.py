"""Managed Data: the Feature Store (sets, registry, compute, quality, examples, online serving)."""

from mlplat.features.registry import Plan, Registry, SetVersion
from mlplat.features.spec import FeatureSetSpec, QualityThresholds

__all__ = ["FeatureSetSpec", "Plan", "QualityThresholds", "Registry", "SetVersion"]
