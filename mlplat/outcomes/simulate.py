"""Simulated users with a known truth: sessions, the predictions they ask for, and the purchases that follow.

Why: every analysis (frequentist, CUPED, sequential, Bayesian, bandits) must
be checked against an effect we planted ourselves. This module is the pure
part (numpy, one seed): ``plan`` draws who visits when; once each session's
prediction is known (from the Inference Service, or assigned here without
one), ``respond`` draws what each user did. ``mlplat.outcomes.traffic``
sends the requests and writes the tables.

The model, per user ``u`` (the experiment's unit):

- a propensity ``p_u ~ Beta(c * base, c * (1 - base))`` (mean ``base_conversion``,
  ``concentration`` c: users differ, which is what CUPED exploits);
- ``1 + Poisson(sessions_per_user - 1)`` sessions at uniform times over the
  ``hours``; each session asks for one prediction;
- **the planted effect**: the user converts (buys at least once, within
  ``response_seconds`` after one of their sessions) with probability
  ``clip(p_u + effect.conversion, 0, 1)``, where the effect is the one of the
  arm of the user's first session (none outside the experiment). A converted
  user makes ``1 + Poisson(purchases_if_converted - 1)`` purchases, each worth
  ``LogNormal(log(revenue_mean) - sigma^2 / 2, sigma) * (1 + effect.revenue)``;
- in the ``pre_days`` before the first session the same user bought with
  probability ``p_u`` (no effect): the pre-period covariate.

So an arm's expected user conversion is ``E[clip(p_u + conversion)]`` (computed
by ``truth``; ``base_conversion + conversion`` wherever the clip does not bite,
as for an uplift of a few points on a base of 0.1 with the default
concentration), and its expected revenue per user is
that times ``purchases_if_converted * revenue_mean * (1 + revenue)``
(``truth``). ``--effect treatment=+0.02`` plants a conversion uplift of two
points; ``--effect treatment:revenue=+0.10`` a 10% revenue uplift per purchase.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlplat.errors import ValidationError

_EFFECT = re.compile(r"^(?P<arm>[^=:\s]+)(?::(?P<what>conversion|revenue))?=(?P<value>[+-]?\d+(?:\.\d+)?)$")
TS = pa.timestamp("us", tz="UTC")
SECOND_US = 1_000_000


@dataclass(frozen=True)
class Effect:
    """What an arm changes: ``conversion`` (absolute, on the user's probability), ``revenue`` (relative)."""

    conversion: float = 0.0
    revenue: float = 0.0


def parse_effects(texts: Sequence[str]) -> dict[str, Effect]:
    """``ARM=+0.02`` (conversion uplift), ``ARM:revenue=+0.10`` (revenue uplift); repeatable per arm."""
    effects: dict[str, Effect] = {}
    for text in texts:
        match = _EFFECT.match(text.strip())
        if match is None:
            raise ValidationError(f"--effect {text!r}: write ARM=+0.02 (conversion) or ARM:revenue=+0.10",
                                  field="effect")
        arm, what, value = match["arm"], match["what"] or "conversion", float(match["value"])
        old = effects.get(arm, Effect())
        effects[arm] = Effect(value, old.revenue) if what == "conversion" else Effect(old.conversion, value)
        if not -1.0 <= effects[arm].conversion <= 1.0 or effects[arm].revenue <= -1.0:
            raise ValidationError(f"--effect {text!r}: a conversion uplift lies in [-1, 1], a revenue one above -1",
                                  field="effect")
    return effects


@dataclass(frozen=True)
class SimConfig:
    experiment: str
    users: int
    hours: float
    start: datetime
    seed: int = 0
    effects: Mapping[str, Effect] = field(default_factory=dict)
    base_conversion: float = 0.10
    concentration: float = 2.0
    sessions_per_user: float = 2.0
    purchases_if_converted: float = 1.5
    revenue_mean: float = 40.0
    revenue_sigma: float = 0.8
    response_seconds: float = 1800.0  # purchases follow their session within this
    pre_days: int = 14

    def __post_init__(self) -> None:
        checks = [("users", self.users >= 1), ("hours", self.hours > 0), ("seed", self.seed >= 0),
                  ("base_conversion", 0 < self.base_conversion < 1), ("concentration", self.concentration > 0),
                  ("sessions_per_user", self.sessions_per_user >= 1),
                  ("purchases_if_converted", self.purchases_if_converted >= 1),
                  ("revenue_mean", self.revenue_mean > 0), ("revenue_sigma", self.revenue_sigma >= 0),
                  ("response_seconds", self.response_seconds >= 1), ("pre_days", self.pre_days >= 0)]
        for name, ok in checks:
            if not ok:
                raise ValidationError(f"simulation: {name}={getattr(self, name)!r} is out of range", field=name)
        if self.start.tzinfo is None:
            object.__setattr__(self, "start", self.start.replace(tzinfo=timezone.utc))

    def truth(self, arm: str | None) -> dict[str, float]:
        """The expected per-user figures of an arm: ``E[clip(p_u + conversion, 0, 1)]`` over the Beta propensity."""
        from scipy import integrate, stats

        effect = self.effects.get(arm or "", Effect())
        e = effect.conversion
        a = self.concentration * self.base_conversion
        density = stats.beta(a, self.concentration - a)
        conversion = self.base_conversion + e
        if e > 0:  # what the clip at 1 takes away
            conversion -= integrate.quad(lambda p: (p + e - 1) * density.pdf(p), 1 - e, 1)[0]
        elif e < 0:  # what the clip at 0 gives back
            conversion += integrate.quad(lambda p: (-e - p) * density.pdf(p), 0, -e)[0]
        revenue = conversion * self.purchases_if_converted * self.revenue_mean * (1 + effect.revenue)
        return {"conversion": conversion, "revenue_per_user": revenue}


@dataclass
class Plan:
    """Who visits when: users, their hidden propensity, and sessions grouped by user (``offsets`` into them)."""

    user_ids: np.ndarray  # str
    propensity: np.ndarray
    offsets: np.ndarray  # user i's sessions are [offsets[i], offsets[i + 1])
    session_user: np.ndarray
    session_us: np.ndarray  # int64 microseconds since the epoch

    @property
    def sessions(self) -> int:
        return int(self.session_user.size)

    def order(self) -> np.ndarray:
        """Session indices in time order (how the requests are sent)."""
        return np.argsort(self.session_us, kind="stable")


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    plan_seq, respond_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(plan_seq), np.random.default_rng(respond_seq)


def plan(cfg: SimConfig, user_ids: Sequence[str] | np.ndarray | None = None) -> Plan:
    """Draw the users' propensities and sessions (the same config and users give the same plan)."""
    rng, _ = _rngs(cfg.seed)
    ids = np.asarray(user_ids if user_ids is not None else [f"sim-u{i:07d}" for i in range(cfg.users)]).astype(str)
    if ids.size < cfg.users:
        raise ValidationError(f"simulation: {cfg.users} users asked for, {ids.size} ids given", field="users")
    ids = ids[: cfg.users]
    a = cfg.concentration * cfg.base_conversion
    propensity = rng.beta(a, cfg.concentration - a, cfg.users)
    counts = 1 + rng.poisson(cfg.sessions_per_user - 1, cfg.users)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    session_user = np.repeat(np.arange(cfg.users), counts)
    start_us = int(cfg.start.timestamp() * SECOND_US)
    session_us = start_us + (rng.random(session_user.size) * cfg.hours * 3600 * SECOND_US).astype(np.int64)
    return Plan(ids, propensity, offsets, session_user, session_us)


@dataclass
class Responses:
    """What the simulated users did: one row per session and per purchase (pre-period ones included)."""

    sessions: pa.Table
    purchases: pa.Table
    unit_arm: np.ndarray  # the arm of each user's first session ("" outside the experiment)


def _purchases(rng: np.random.Generator, users: np.ndarray, cfg: SimConfig) -> np.ndarray:
    extra = max(cfg.purchases_if_converted - 1, 0.0)
    return np.repeat(users, 1 + rng.poisson(extra, users.size))


def _amounts(rng: np.random.Generator, count: int, cfg: SimConfig, lift: np.ndarray | float) -> np.ndarray:
    mu = math.log(cfg.revenue_mean) - cfg.revenue_sigma ** 2 / 2
    return np.round(rng.lognormal(mu, cfg.revenue_sigma, count) * (1 + lift), 2)


def respond(cfg: SimConfig, plan_: Plan, arms: Sequence[str | None] | np.ndarray, prediction_ids: Sequence[str],
            prediction_us: np.ndarray | None = None) -> Responses:
    """The users' behaviour once each session's arm and prediction id are known (indexed like the plan's
    sessions). ``prediction_us``: when each prediction was made (default: the planned session times)."""
    _, rng = _rngs(cfg.seed)
    n = plan_.sessions
    arm_of = np.array(["" if a is None else str(a) for a in arms], dtype=object)
    if arm_of.size != n or len(prediction_ids) != n:
        raise ValidationError(f"respond needs one arm and prediction id per session ({n})", field="arms")
    when = plan_.session_us if prediction_us is None else np.asarray(prediction_us, dtype=np.int64)
    order = np.lexsort((when, plan_.session_user))
    first = order[plan_.offsets[:-1]]  # each user's earliest session
    unit_arm = arm_of[first]
    names = sorted(set(unit_arm.tolist()))
    conv_lift = np.zeros(cfg.users)
    rev_lift = np.zeros(cfg.users)
    for name in names:
        effect = cfg.effects.get(name, Effect())
        mask = unit_arm == name
        conv_lift[mask], rev_lift[mask] = effect.conversion, effect.revenue
    converts = rng.random(cfg.users) < np.clip(plan_.propensity + conv_lift, 0.0, 1.0)
    buyers = _purchases(rng, np.flatnonzero(converts), cfg)
    counts = np.diff(plan_.offsets)
    session = plan_.offsets[buyers] + (rng.random(buyers.size) * counts[buyers]).astype(np.int64)
    bought_us = when[session] + SECOND_US + (rng.random(buyers.size) * (cfg.response_seconds - 1) * SECOND_US
                                             ).astype(np.int64)
    revenue = _amounts(rng, buyers.size, cfg, rev_lift[buyers])
    # the pre-period: the same propensity, no treatment, before the user's first session
    pre_buyers = _purchases(rng, np.flatnonzero(rng.random(cfg.users) < plan_.propensity), cfg)
    pre_us = when[first][pre_buyers] - (rng.random(pre_buyers.size) * cfg.pre_days * 86400 * SECOND_US
                                        ).astype(np.int64) - SECOND_US
    pre_revenue = _amounts(rng, pre_buyers.size, cfg, 0.0)
    keep = pre_us < when[first][pre_buyers] if cfg.pre_days else np.zeros(pre_buyers.size, dtype=bool)
    pred = pa.array(prediction_ids, pa.string())
    users = pa.array(plan_.user_ids, pa.string())
    experiment = pa.array(np.full(n, cfg.experiment, dtype=object), pa.string())
    sessions = pa.table({
        "session_id": pc.binary_join_element_wise(pa.scalar(f"{cfg.experiment}-{cfg.seed}-s"),
                                                  pa.array(np.arange(n)).cast(pa.string()), ""),
        "user_id": users.take(pa.array(plan_.session_user)),
        "prediction_id": pred,
        "experiment": experiment,
        "ts": pa.array(when, pa.int64()).cast(TS),
        "page_views": pa.array(1 + rng.poisson(3.0, n), pa.int32()),
    })
    all_users = np.concatenate([buyers, pre_buyers[keep]])
    count = all_users.size
    purchases = pa.table({
        "purchase_id": pc.binary_join_element_wise(pa.scalar(f"{cfg.experiment}-{cfg.seed}-p"),
                                                   pa.array(np.arange(count)).cast(pa.string()), ""),
        "user_id": users.take(pa.array(all_users)),
        "prediction_id": pa.concat_arrays([pred.take(pa.array(session)), pa.nulls(int(keep.sum()), pa.string())]),
        "experiment": pa.array(np.full(count, cfg.experiment, dtype=object), pa.string()),
        "ts": pa.array(np.concatenate([bought_us, pre_us[keep]]), pa.int64()).cast(TS),
        "revenue": pa.array(np.concatenate([revenue, pre_revenue[keep]]), pa.float64()),
    })
    return Responses(sessions, purchases, unit_arm)


def default_start(hours: float, now: datetime | None = None) -> datetime:
    """The simulation's first hour: ``hours`` before now, on the hour (its sessions are in the past)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return (now - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)


__all__ = ["Effect", "Plan", "Responses", "SimConfig", "default_start", "parse_effects", "plan", "respond"]
