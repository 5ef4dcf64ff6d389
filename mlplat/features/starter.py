"""Starter sets on the seeded lake: the purchase model's features, its session labels and its example set.

Chapter 2, the model tests and the training benchmark need a real example set
built the platform's way (Spark SQL sets computed day by day, joined point in
time). These are the definitions chapter 1 writes with ``%%feature``, plus a
session-level label set whose context columns (device, country, product views
and mean price so far in the session) are the model's *session features*:
the website sends them with each request, they are not in the Feature Store.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Callable, Protocol

from mlplat.identity import Identity

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.features.example_service import ExampleService
    from mlplat.features.examples import ExampleSetInfo
    from mlplat.features.service import FeatureService
    from mlplat.lake import Lake


class StarterVerbs(Protocol):
    """What building the starter sets needs: the lake's catalog and the Feature Store's verbs."""

    @property
    def lake(self) -> "Lake": ...

    @property
    def features(self) -> "FeatureService": ...

    @property
    def examples(self) -> "ExampleService": ...

SESSION_FEATURES = ["device", "country", "session_product_views", "session_mean_price"]
TARGET = "purchased"
# The last 20 events before each session, with the viewed product's category: what sequence_gru reads.
EVENTS: dict[str, Any] = {"table": "events", "n": 20, "columns": ["event_type", "category", "price"],
                          "lookup": ["products", "product_id", ["category"]]}


def definitions(team: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "user_views_7d", "kind": "features", "entity": ["user_id"], "timestamp": "event_ts", "team": team,
            "ttl": "7d", "online": True, "tags": ["activity"],
            "description": "Browsing per user over the 7 days up to ds",
            "columns": {"product_views_7d": "product views in the 7 days up to ds",
                        "sessions_7d": "sessions in the 7 days up to ds",
                        "searches_7d": "searches in the 7 days up to ds"},
            "sql": """
SELECT user_id,
       CAST(date_add('{{ ds }}', 1) AS TIMESTAMP) AS event_ts,
       SUM(CASE WHEN event_type = 'product_view' THEN 1 ELSE 0 END) AS product_views_7d,
       COUNT(DISTINCT session_id) AS sessions_7d,
       SUM(CASE WHEN event_type = 'search' THEN 1 ELSE 0 END) AS searches_7d
FROM events
WHERE ds BETWEEN date_sub('{{ ds }}', 6) AND '{{ ds }}'
GROUP BY user_id""",
        },
        {
            "name": "user_profile", "kind": "features", "entity": ["user_id"], "timestamp": "signup_ts", "team": team,
            "online": True, "tags": ["profile"], "description": "Age band and signup of each user",
            "columns": {"age_band": "age band", "home_device": "the user's usual device"},
            "sql": """
SELECT user_id, CAST(signup_date AS TIMESTAMP) AS signup_ts, age_band, device AS home_device
FROM users
WHERE signup_date <= '{{ ds }}'""",
        },
        {
            "name": "session_purchase", "kind": "labels", "entity": ["user_id"], "timestamp": "start_ts", "team": team,
            "description": "1 when a session ended in a purchase, with the session's context",
            "columns": {"purchased": "1 if the session purchased", "device": "device of the session",
                        "country": "country of the session",
                        "session_product_views": "product views in the session",
                        "session_mean_price": "mean price of the products viewed in the session"},
            "sql": """
SELECT s.user_id, s.start_ts, s.device, s.country,
       CAST(SUM(CASE WHEN e.event_type = 'product_view' THEN 1 ELSE 0 END) AS DOUBLE) AS session_product_views,
       AVG(CASE WHEN e.event_type = 'product_view' THEN e.price END) AS session_mean_price,
       MAX(CASE WHEN e.event_type = 'purchase' THEN 1 ELSE 0 END) AS purchased
FROM sessions s JOIN events e ON e.session_id = s.session_id AND e.ds = '{{ ds }}'
WHERE s.ds = '{{ ds }}'
GROUP BY s.user_id, s.session_id, s.start_ts, s.device, s.country""",
        },
    ]


def lake_days(lake: "Lake") -> list[date]:
    """The days the seeded events table holds."""
    from mlplat.lake import local_path

    root = local_path(lake.table("events").url)
    if root is None:
        return []
    return sorted(date.fromisoformat(p.name.split("=", 1)[1]) for p in root.glob("ds=*"))


def build_session_examples(
    platform: StarterVerbs,
    caller: Identity,
    team: str,
    days: int = 7,
    name: str = "session_examples",
    progress: Callable[[str, float], None] | None = None,
    events: dict[str, Any] | None = None,
) -> "ExampleSetInfo":
    """Apply the starter sets, compute the last ``days`` days (features from the week before), build ``name``.

    ``events`` attaches each session's last N earlier clickstream events (``EVENTS`` is the sequence
    model's choice: type, product category and price).
    """
    say = progress or (lambda message, fraction: None)
    available = lake_days(platform.lake)
    if not available:
        from mlplat.errors import NotFoundError

        raise NotFoundError("the lake has no events; seed it first (`mlplat lake seed`)")
    end = available[-1]
    start = max(available[0], end - timedelta(days=days - 1))
    for spec in definitions(team):
        platform.features.apply(caller, spec)
    feature_start = max(available[0], start - timedelta(days=1))
    say(f"computing features {feature_start}..{end}", 0.1)
    for set_name in ("user_views_7d", "user_profile"):
        platform.features.compute(caller, set_name, feature_start.isoformat(), end.isoformat(), kind="features")
    say(f"computing labels {start}..{end}", 0.6)
    platform.features.compute(caller, "session_purchase", start.isoformat(), end.isoformat(), kind="labels")
    say(f"building {name}", 0.8)
    return platform.examples.build(caller, name, "session_purchase", ["user_views_7d", "user_profile"], team=team,
                                   start=start, end=end, events=events)


__all__ = ["EVENTS", "SESSION_FEATURES", "StarterVerbs", "TARGET", "build_session_examples", "definitions", "lake_days"]
