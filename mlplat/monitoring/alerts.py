"""Alert rules on any monitored figure, and what a processed hour does to a model's alerts.

Every hour's results are flattened into *figures* with dotted names:
``output.count``, ``output.score_mean``, ``output.latency_p99``,
``output.error_share``, ``output.fallback_share``, ``drift.<column>.drifted``
(1 or 0), ``drift.<column>.<statistic>`` (its effect size: ``ks``, ``psi``,
``js``, ...), ``skew.<feature>.mismatch_share``. A rule names figures, with
``*`` wildcards, and a limit: ``{"drift.*.psi": {"above": 0.25}}``,
``{"output.score_mean": {"below": 0.1}}``. A model's rules are
:data:`DEFAULT_RULES` updated by its config (a rule set to ``None`` is off).

An alert is keyed by model and figure: while the condition holds it stays one
open row (its last hour and evidence move on; nobody is told twice); the
first processed hour where the figure is back within its limit clears it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Mapping

from mlplat.errors import ValidationError

DEFAULT_RULES: dict[str, dict[str, float]] = {
    "drift.*.drifted": {"above": 0.5},  # a column the drift report calls drifted
    "skew.*.mismatch_share": {"above": 0.05},
    "output.error_share": {"above": 0.05},
}


def check_rules(rules: Mapping[str, Any]) -> dict[str, dict[str, float] | None]:
    """Validate rules from a caller: each is ``None`` or ``{"above": x}`` / ``{"below": x}`` (or both)."""
    out: dict[str, dict[str, float] | None] = {}
    if not isinstance(rules, Mapping):
        raise ValidationError("thresholds must be an object: figure -> {\"above\": x} or {\"below\": x}")
    for name, rule in rules.items():
        if not isinstance(name, str) or name.split(".")[0] not in ("output", "drift", "skew", "response"):
            raise ValidationError(f"threshold {name!r}: a figure starts with output., drift., skew. or response.",
                                  field="thresholds")
        if rule is None:
            out[name] = None
            continue
        if not isinstance(rule, Mapping) or not rule or set(rule) - {"above", "below"}:
            raise ValidationError(f"threshold {name!r}: give {{\"above\": x}} and/or {{\"below\": x}}, not {rule!r}",
                                  field="thresholds")
        limits = {}
        for side, value in rule.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValidationError(f"threshold {name!r}: {side} must be a number, not {value!r}",
                                      field="thresholds")
            limits[side] = float(value)
        out[name] = limits
    return out


def model_rules(configured: Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    merged: dict[str, Any] = {**DEFAULT_RULES, **(configured or {})}
    return {k: v for k, v in merged.items() if v}


@dataclass
class Figure:
    value: float
    version: int
    evidence: dict[str, Any] = field(default_factory=dict)


def hour_figures(outputs: list[dict[str, Any]], drift: dict[int, list[dict[str, Any]]],
                 skew: dict[int, list[dict[str, Any]]]) -> dict[str, list[Figure]]:
    """Every figure of one hour, per version (a figure may have one value per version)."""
    figures: dict[str, list[Figure]] = {}

    def add(name: str, value: Any, version: int, evidence: dict[str, Any]) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            figures.setdefault(name, []).append(Figure(float(value), version, evidence))

    for o in outputs:
        for key in ("count", "score_mean", "latency_p50", "latency_p99", "error_share", "fallback_share"):
            add(f"output.{key}", o.get(key), o["version"], {k: o.get(k) for k in ("count", key)})
    for version, rows in drift.items():
        for row in rows:
            evidence = {"status": row["status"], "score": row["score"],
                        "fired": [k for k, s in row["statistics"].items() if s.get("fired")],
                        "statistics": {k: s.get("value") for k, s in row["statistics"].items()}}
            add(f"drift.{row['column']}.drifted", 1.0 if row["status"] == "drift" else 0.0, version, evidence)
            for stat, s in row["statistics"].items():
                add(f"drift.{row['column']}.{stat}", s.get("value"), version, evidence)
    for version, rows in skew.items():
        for row in rows:
            add(f"skew.{row['feature']}.mismatch_share", row.get("mismatch_share"), version,
                {"compared": row.get("compared"), "mismatches": row.get("mismatches")})
    return figures


@dataclass
class Breach:
    figure: str
    rule: str
    value: float
    limit: float
    side: str
    versions: list[int]
    evidence: dict[str, Any]

    @property
    def message(self) -> str:
        word = "above" if self.side == "above" else "below"
        return (f"{self.figure} = {self.value:.4g} is {word} {self.limit:g} "
                f"(version{'s' if len(self.versions) > 1 else ''} {', '.join(map(str, self.versions))})")


def evaluate(figures: Mapping[str, list[Figure]], rules: Mapping[str, Mapping[str, float]]
             ) -> tuple[dict[str, Breach], set[str]]:
    """(breaches by figure, figures checked and within their limits) for one hour."""
    breaches: dict[str, Breach] = {}
    fine: set[str] = set()
    for name, values in figures.items():
        for pattern, limits in rules.items():
            if not fnmatch.fnmatchcase(name, pattern):
                continue
            bad = []
            for f in values:
                for side, limit in limits.items():
                    if (side == "above" and f.value > limit) or (side == "below" and f.value < limit):
                        bad.append((side, limit, f))
            if bad:
                side, limit, worst = max(bad, key=lambda b: abs(b[2].value - b[1]))
                breaches[name] = Breach(name, pattern, worst.value, limit, side,
                                        sorted({b[2].version for b in bad}), worst.evidence)
            elif name not in breaches:
                fine.add(name)
    return breaches, fine - set(breaches)


__all__ = ["Breach", "DEFAULT_RULES", "Figure", "check_rules", "evaluate", "hour_figures", "model_rules"]
