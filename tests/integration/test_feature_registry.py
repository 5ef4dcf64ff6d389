"""Feature and label set definitions, validation and versions, on a real Spark and seeded lake."""

from __future__ import annotations

from datetime import date

import pytest

from mlplat.client import Client, InProcessTransport
from mlplat.errors import NotFoundError, PermissionDenied, ValidationError
from mlplat.features import FeatureSetSpec
from mlplat.features.sql import render
from mlplat.identity import Identity

pytestmark = pytest.mark.integration

ALICE = Identity("alice", teams=("growth",))
BOB = Identity("bob", teams=("ads",))

ACTIVITY = """
name: user_activity_7d
kind: features
entity: [user_id]
timestamp: event_ts
team: growth
description: Clicks and views per user over the last 7 days
schedule: "@daily"
ttl: 7d
online: true
tags: [activity, users]
sql: |
  SELECT user_id,
         CAST(date_add('{{ ds }}', 1) AS TIMESTAMP) AS event_ts,
         COUNT(*) AS events_7d,
         SUM(CASE WHEN event_type = 'product_view' THEN 1 ELSE 0 END) AS product_views_7d
  FROM events
  WHERE ds BETWEEN date_sub('{{ ds }}', 6) AND '{{ ds }}'
  GROUP BY user_id
columns:
  events_7d: number of events in the 7 days up to ds
  product_views_7d: product views in the 7 days up to ds
"""


def client_as(platform, who: Identity) -> Client:
    return Client(InProcessTransport(platform, who), platform.settings)


def test_apply_plan_versions_and_show(platform) -> None:
    alice = client_as(platform, ALICE)
    plan = alice.features.plan(ACTIVITY)
    assert (plan.action, plan.version) == ("create", 1)
    assert alice.features.apply(ACTIVITY).action == "create"
    assert alice.features.plan(ACTIVITY).action == "unchanged"
    # metadata only: same version, updated in place
    edited = ACTIVITY.replace("Clicks and views per user", "Events per user")
    plan = alice.features.apply(edited)
    assert (plan.action, plan.version) == ("update", 1)
    assert [c["field"] for c in plan.changes] == ["description"]
    # reformatting the SQL is not a change of the query
    reformatted = alice.features.plan(edited.replace("SELECT user_id,", "select   user_id ,"))
    assert (reformatted.action, reformatted.version) == ("update", 1)
    # a new column is a new version; the old one stays readable
    v2 = edited.replace("COUNT(*) AS events_7d,", "COUNT(*) AS events_7d, COUNT(DISTINCT session_id) AS sessions_7d,")
    plan = alice.features.apply(v2)
    assert (plan.action, plan.version) == ("new_version", 2)
    detail = alice.features.show("user_activity_7d")
    assert detail.versions == [1, 2] and detail.current.version == 2
    assert "sessions_7d" in [c.name for c in detail.current.schema]
    assert detail.reads == ["events"]
    assert detail.offline_url.endswith("/features/user_activity_7d/v2")
    v1 = alice.features.show("user_activity_7d", version=1).current
    assert "sessions_7d" not in [c.name for c in v1.schema]
    assert {c.name: c.type for c in v1.schema}["event_ts"] == "timestamp"


def test_find_by_name_text_team_tag_entity_column(platform) -> None:
    alice = client_as(platform, ALICE)
    alice.features.apply(ACTIVITY)
    bob = client_as(platform, BOB)
    bob.features.apply(FeatureSetSpec(
        name="purchased_today", kind="labels", entity=("user_id",), timestamp="label_ts", team="ads",
        sql="SELECT user_id, CAST(MAX(ts) AS TIMESTAMP) AS label_ts, 1 AS purchased FROM events "
            "WHERE ds = '{{ ds }}' AND event_type = 'purchase' GROUP BY user_id",
        columns={"purchased": "1 when the user bought something that day"},
    ))
    names = lambda found: sorted(s.name for s in found)  # noqa: E731
    assert names(bob.features.search("views")) == ["user_activity_7d"]
    assert names(bob.features.search(team="ads")) == ["purchased_today"]
    assert names(bob.features.search(tag="activity")) == ["user_activity_7d"]
    assert names(bob.features.search(entity="user_id")) == ["purchased_today", "user_activity_7d"]
    assert names(bob.features.search(column="purchased")) == ["purchased_today"]
    assert names(bob.features.search(kind="labels")) == ["purchased_today"]
    assert names(bob.features.list()) == ["purchased_today", "user_activity_7d"]


def test_only_the_owner_team_changes_or_deletes(platform) -> None:
    client_as(platform, ALICE).features.apply(ACTIVITY)
    bob = client_as(platform, BOB)
    assert bob.features.show("user_activity_7d").current.spec.team == "growth"  # everyone reads
    with pytest.raises(PermissionDenied, match="bob may not apply features set 'user_activity_7d' for team 'growth'"):
        bob.features.apply(ACTIVITY.replace("Clicks", "Taps"))
    with pytest.raises(PermissionDenied, match="bob may not change features set 'user_activity_7d'"):
        bob.features.apply(ACTIVITY.replace("team: growth", "team: ads"))
    with pytest.raises(PermissionDenied, match="may not delete"):
        bob.features.delete("user_activity_7d")
    client_as(platform, ALICE).features.delete("user_activity_7d")
    with pytest.raises(NotFoundError, match="no features set named 'user_activity_7d'"):
        bob.features.show("user_activity_7d", kind="features")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("SELECT user_id,", "DROP TABLE events; SELECT user_id,"), "must be one SELECT statement, found 2"),
        (("  SELECT user_id,\n", "  INSERT INTO t SELECT user_id,\n"), "INSERT statements are not allowed"),
        (("FROM events", "FROM event"), "reads an unknown table: no lake table named 'event'; did you mean 'events'?"),
        (("entity: [user_id]", "entity: [customer_id]"), "entity column 'customer_id' is not in the query's output"),
        (("timestamp: event_ts", "timestamp: events_7d"), "timestamp column 'events_7d' has type bigint"),
        (("  events_7d: number", "  clicks_7d: number"), "columns described but not in the query's output: clicks_7d"),
        (("COUNT(*) AS events_7d", "COUNT(* AS events_7d"), "does not parse"),
        (("'{{ ds }}'", "'{{ day }}'"), "unknown template variable"),
        (("ttl: 7d", "ttl: a week"), "is not a duration"),
        (("schedule: \"@daily\"", "schedule: sometimes"), "schedule 'sometimes' is not valid"),
        (("SUM(CASE", "SUM(CASE WHEN nope = 1 THEN 0 END) AS x, SUM(CASE"), "Spark cannot analyze the SQL"),
    ],
)
def test_bad_definitions_get_errors_naming_the_culprit(platform, change, message) -> None:
    alice = client_as(platform, ALICE)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        alice.features.apply(ACTIVITY.replace(*change, 1))
    assert alice.features.list() == []  # nothing half-registered


def test_duplicates_by_sql_are_warned_about(platform) -> None:
    client_as(platform, ALICE).features.apply(ACTIVITY)
    bob = client_as(platform, BOB)
    copy = ACTIVITY.replace("name: user_activity_7d", "name: ads_activity").replace("team: growth", "team: ads")
    copy = copy.replace("SELECT user_id,", "select user_id ,")  # formatting does not hide it
    plan = bob.features.apply(copy)
    assert plan.action == "create"
    assert plan.warnings == [
        "possible duplicate: features/ads_activity (team ads) duplicates features/user_activity_7d (team growth): "
        "same SQL"
    ]
    found = platform.features.duplicates(BOB)
    assert [(d.a, d.b, d.reason) for d in found] == [("features/ads_activity", "features/user_activity_7d", "same SQL")]


def write_offline(platform, name: str, days: list[str]) -> None:
    """Write a set's offline partitions straight from its query (compute has its own tests)."""
    sv = platform.features.registry.get(name)
    for ds in days:
        frame = platform.spark.sql(render(sv.spec.sql, date.fromisoformat(ds)))
        frame.write.mode("overwrite").parquet(f"{platform.features.registry.offline_url(sv)}/ds={ds}")


def test_duplicates_by_values_across_teams(platform) -> None:
    """Different SQL, same numbers: found on a sample of shared entities and dates."""
    client_as(platform, ALICE).features.apply(ACTIVITY)
    scaled = (
        ACTIVITY.replace("name: user_activity_7d", "name: ads_events_x2").replace("team: growth", "team: ads")
        .replace("COUNT(*) AS events_7d", "2 * COUNT(1) + 0 AS events_7d")
        .replace("SUM(CASE WHEN event_type = 'product_view' THEN 1 ELSE 0 END)",
                 "COUNT(CASE WHEN event_type = 'product_view' THEN 1 END)")
    )
    assert client_as(platform, BOB).features.apply(scaled).warnings == []  # the SQL differs
    for name in ("user_activity_7d", "ads_events_x2"):
        write_offline(platform, name, ["2026-11-18", "2026-11-19"])
    found = platform.features.duplicates(BOB, "ads_events_x2")
    assert [(d.a, d.b, d.reason) for d in found] == [
        ("features/ads_events_x2", "features/user_activity_7d", "same values")
    ]
    pairs = {(a, b): c for a, b, c in found[0].columns}
    assert set(pairs) == {("events_7d", "events_7d"), ("product_views_7d", "product_views_7d")}
    assert pairs[("product_views_7d", "product_views_7d")] == 1.0  # equal values
    assert 0.999 <= pairs[("events_7d", "events_7d")] <= 1.0  # doubled: correlated
    # an unrelated set is not a duplicate
    other = ACTIVITY.replace("name: user_activity_7d", "name: searches").replace(
        "COUNT(*) AS events_7d", "SUM(CASE WHEN event_type = 'search' THEN 1 ELSE 0 END) AS events_7d"
    ).replace("SUM(CASE WHEN event_type = 'product_view' THEN 1 ELSE 0 END) AS product_views_7d",
              "COUNT(DISTINCT session_id) AS product_views_7d")
    client_as(platform, ALICE).features.apply(other)
    write_offline(platform, "searches", ["2026-11-18"])
    assert platform.features.duplicates(ALICE, "searches") == []
