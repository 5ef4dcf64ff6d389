"""What the experiments' tests share: in-memory implementations of the service's ports holding known data.

The Model Repository, the outcomes' statistics, the metric catalog and the change channel reach the Experiment
Manager through its ports (``mlplat.experiments.ports``); these answer as the real ones do (the integration test
runs MLflow, the Spark job and Redis), so unit tests run in seconds on SQLite.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from mlplat.errors import NotFoundError
from mlplat.experiments.service import ExperimentService
from mlplat.identity import Identity
from mlplat.metadata import Database

OWNER = Identity("alice", ("growth",))
OTHER = Identity("bob", ("search",))
ADMIN = Identity("admin", admin=True)


class Catalog:
    """Models with versions and aliases, answering as the Model Repository does."""

    def __init__(self) -> None:
        self.models = {"churn": {"versions": [1, 2, 3], "aliases": {"production": 2, "candidate": 3}},
                       "plain": {"versions": [1], "aliases": {}}}
        self.tags: dict[tuple[str, int], dict[str, str]] = {}

    def resolve(self, name: str, version: Any = None, alias: str | None = None, prefer: str | None = None) -> int:
        if name not in self.models:
            raise NotFoundError(f"no model named {name!r}", model=name)
        if alias:
            if alias not in self.models[name]["aliases"]:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}", model=name)
            return int(self.models[name]["aliases"][alias])
        return int(version) if version is not None else max(self.models[name]["versions"])

    def version(self, name: str, version: int) -> Any:
        if version not in self.models[name]["versions"]:
            raise NotFoundError(f"model {name!r} has no version {version}", model=name)
        return {"name": name, "version": version}

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self.tags.setdefault((name, version), {})[key] = value


class Metrics:
    def __init__(self, **more: str) -> None:
        self.kinds = {"purchase": "binary", "revenue": "mean", **more}

    def metric_kind(self, name: str) -> str:
        if name not in self.kinds:
            raise NotFoundError(f"no metric named {name!r}", metric=name)
        return self.kinds[name]


class Stats:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def read_stats(self, experiment: str) -> Sequence[Mapping[str, Any]]:
        return [r for r in self.rows if r["experiment"] == experiment]

    def refresh(self, experiments: Sequence[str], metrics: Sequence[str], since: Any, until: Any) -> int:
        self.refreshed = (list(experiments), list(metrics), since, until)
        return 7


class Channel:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def publish(self, channel: str, message: str) -> None:
        self.messages.append((channel, message))


def make_world(path: Any, **metric_kinds: str) -> tuple[ExperimentService, Catalog, Stats, Channel]:
    """A service on a fresh SQLite database at ``path`` with the ports below (``metric_kinds``: more metrics)."""
    db = Database(f"sqlite:///{path}")
    db.migrate()
    catalog, stats, channel, metrics = Catalog(), Stats(), Channel(), Metrics(**metric_kinds)
    return ExperimentService(db, lambda: catalog, lambda: stats, lambda: metrics, channel), catalog, stats, channel



def rows(experiment: str, p: Sequence[float], n: int, days: int, seed: int, phase: int = 1,
         arms: Sequence[str] = ("control", "new")) -> list[dict[str, Any]]:
    """Per-arm, per-day statistics of a conversion metric with rates ``p`` and of revenue (mean 10, sd 3)."""
    rng = np.random.default_rng(seed)
    out = []
    for day in range(days):
        for arm, rate in zip(arms, p):
            y = (rng.random(n) < rate).astype(float)
            x = rng.normal(10, 3, n)
            r = x + rng.normal(0, 1, n)
            out.append({"experiment": experiment, "phase": phase, "arm": arm, "day": f"2026-11-{day + 1:02d}",
                        "metric": "purchase", "n": n, "sum": y.sum(), "sum_sq": (y * y).sum()})
            out.append({"experiment": experiment, "phase": phase, "arm": arm, "day": f"2026-11-{day + 1:02d}",
                        "metric": "revenue", "n": n, "sum": r.sum(), "sum_sq": (r * r).sum(), "pre_n": n,
                        "pre_sum": x.sum(), "pre_sum_sq": (x * x).sum(), "sum_x_pre": (x * r).sum()})
    return out


def definition(**changes: Any) -> dict[str, Any]:
    return {"name": "button", "team": "growth", "primary_metric": "purchase", "guardrail_metrics": ["revenue"],
            "arms": [{"name": "control", "model": "churn"}, {"name": "new", "model": "churn@candidate"}], **changes}
