"""The Online Serving routes (``/v1/online``) on a real redis-server and a real registry.

The router is mounted on an app built here, with the platform API's error mapping
and its token authentication path (an authenticator resolving fixed tokens).
"""

from __future__ import annotations

import base64
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from conftest import TEST_PROFILE, free_ports
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from test_online_store import online_set, write_offline

from mlplat.errors import MlplatError
from mlplat.features import FeatureSetSpec
from mlplat.features.online import materialize, open_store, set_ref
from mlplat.features.schema import Column
from mlplat.identity import Identity
from mlplat.platform import Platform
from mlplat.services.api import online
from mlplat.services.api.auth import StaticTokenAuthenticator, bearer_token

pytestmark = pytest.mark.integration
UTC = timezone.utc
TS = datetime(2026, 11, 21, 6, 30, tzinfo=UTC)
ALICE = {"Authorization": "token t-alice"}


def make_app(platform: Platform) -> FastAPI:
    auth = StaticTokenAuthenticator({"t-alice": Identity("alice", teams=("growth",))})
    app = FastAPI()

    @app.exception_handler(MlplatError)
    async def platform_error(_request: Request, exc: MlplatError) -> JSONResponse:
        return JSONResponse(status_code=exc.http_status, content=exc.to_dict())

    def caller(request: Request) -> Identity:
        return auth.identify(bearer_token(request.headers.get("authorization")))

    app.include_router(online.router(platform, caller))
    return app


def register(registry: Any, name: str, entity: tuple[str, ...], columns: dict[str, str], online_: bool = True) -> Any:
    spec = FeatureSetSpec(name=name, sql="SELECT * FROM events WHERE ds = '{{ ds }}'", entity=entity,
                          timestamp="event_ts", team="growth", online=online_)
    schema = [*(Column(k, "string") for k in entity), Column("event_ts", "timestamp"),
              *(Column(c, t) for c, t in columns.items())]
    registry.apply(spec, schema, created_by="admin")
    return registry.get(name, "features")


@pytest.fixture
def world(platform: Platform, redis_url: str) -> Iterator[dict[str, Any]]:
    """Sets keyed by a per-test entity name, values written straight into the store."""
    tag = uuid.uuid4().hex[:6]
    entity = f"user_{tag}"
    settings = platform.settings.replace(online_store_url=redis_url)
    p = Platform(settings, db=platform.db, spark=platform.spark)
    registry = p.features.registry
    activity = register(registry, f"activity_{tag}", (entity,),
                        {"events_7d": "bigint", "avg_price": "double", "last_seen": "timestamp", "segment": "string"})
    profile = register(registry, f"profile_{tag}", (entity,), {"age": "int", "country": "string"})
    hidden = register(registry, f"hidden_{tag}", (entity,), {"x": "double"}, online_=False)
    items = register(registry, f"items_{tag}", (f"item_{tag}",), {"price": "double"})
    store = open_store(redis_url, 2.0)
    store.write_batch(set_ref(activity), entity, ["u1", "u2"], [TS, TS - timedelta(days=1)],
                      [[12, 9.5, TS - timedelta(hours=2), "new"], [3, float("nan"), None, "old"]])
    store.write_batch(set_ref(profile), entity, ["u1"], [TS], [[34, "DE"]])
    yield {"client": TestClient(make_app(p), raise_server_exceptions=False), "entity": entity,
           "activity": activity.name, "profile": profile.name, "hidden": hidden.name, "items": items.name,
           "platform": p, "store": store, "redis_url": redis_url}
    store.close()


def test_one_entity_by_feature_names(world: dict[str, Any]) -> None:
    c, e, act, prof = world["client"], world["entity"], world["activity"], world["profile"]
    r = c.get(f"/v1/online/{e}/u1", params={"features": f"{act}.events_7d,{act}.last_seen,{prof}"}, headers=ALICE)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "entity": e,
        "id": "u1",
        "found": True,
        "features": {f"{act}.events_7d": 12, f"{act}.last_seen": "2026-11-21T04:30:00+00:00",
                     f"{prof}.age": 34, f"{prof}.country": "DE"},
        "event_ts": {act: "2026-11-21T06:30:00+00:00", prof: "2026-11-21T06:30:00+00:00"},
        "versions": {act: 1, prof: 1},
    }


def test_without_features_every_online_set_of_the_entity(world: dict[str, Any]) -> None:
    c, e, act, prof = world["client"], world["entity"], world["activity"], world["profile"]
    body = c.get(f"/v1/online/{e}/u2", headers=ALICE).json()
    assert body["found"] is True
    assert body["features"] == {
        f"{act}.events_7d": 3, f"{act}.avg_price": None,  # NaN is not JSON: null
        f"{act}.last_seen": None, f"{act}.segment": "old", f"{prof}.age": None, f"{prof}.country": None,
    }
    assert body["event_ts"] == {act: "2026-11-20T06:30:00+00:00", prof: None}  # hidden and items are not here


def test_an_unknown_id_answers_nulls(world: dict[str, Any]) -> None:
    c, e, act = world["client"], world["entity"], world["activity"]
    r = c.get(f"/v1/online/{e}/nobody", params={"features": f"{act}.segment"}, headers=ALICE)
    assert r.status_code == 200
    assert r.json() == {"entity": e, "id": "nobody", "found": False, "features": {f"{act}.segment": None},
                        "event_ts": {act: None}, "versions": {act: 1}}


@pytest.mark.parametrize(
    ("features", "status", "message"),
    [
        ("nosuchset.x", 404, "no features set named 'nosuchset'"),
        ("{act}.event_7d", 404, "has no column 'event_7d'; did you mean 'events_7d'?"),
        ("{hidden}.x", 422, "is not an online set; set online: true"),
        ("{items}.price", 422, "is keyed by 'item_"),
        ("{act}.", 422, "is not valid: write set.column"),
        ("{act}:v9.segment", 404, "has no version 9"),
        ("{act}:v1.segment,{act}:v2.age", 422, "asked for at two versions"),
    ],
)
def test_unknown_or_unservable_features_are_named(world: dict[str, Any], features: str, status: int,
                                                   message: str) -> None:
    c, e = world["client"], world["entity"]
    named = features.format(act=world["activity"], hidden=world["hidden"], items=world["items"])
    r = c.get(f"/v1/online/{e}/u1", params={"features": named}, headers=ALICE)
    assert r.status_code == status, r.text
    assert message in r.json()["message"]


def test_an_entity_without_online_sets_is_404(world: dict[str, Any]) -> None:
    r = world["client"].get("/v1/online/shop_id/s1", headers=ALICE)
    assert r.status_code == 404 and "no online feature set is keyed by 'shop_id'" in r.json()["message"]


@pytest.mark.skipif(TEST_PROFILE == "cluster", reason="one round trip for many ids is a single server's: a "
                    "Redis Cluster reads each master's ids from it (tests/integration/test_online_store.py)")
def test_many_ids_in_one_round_trip(world: dict[str, Any]) -> None:
    import redis

    c, e, act, prof = world["client"], world["entity"], world["activity"], world["profile"]
    admin = redis.Redis.from_url(world["redis_url"])

    def evalsha() -> int:
        return int(admin.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))

    body = {"ids": ["u2", "ghost", "u1"], "features": [f"{act}.segment", f"{prof}.age"]}
    c.post(f"/v1/online/{e}", json=body, headers=ALICE)  # the read script is loaded, names are cached
    before = evalsha()
    r = c.post(f"/v1/online/{e}", json=body, headers=ALICE)
    assert evalsha() - before == 1
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["id"] for x in results] == ["u2", "ghost", "u1"]
    assert [x["found"] for x in results] == [True, False, True]
    assert [x["features"] for x in results] == [
        {f"{act}.segment": "old", f"{prof}.age": None},
        {f"{act}.segment": None, f"{prof}.age": None},
        {f"{act}.segment": "new", f"{prof}.age": 34},
    ]
    too_many = c.post(f"/v1/online/{e}", json={"ids": [f"u{i}" for i in range(1001)]}, headers=ALICE)
    assert too_many.status_code == 422 and "at most 1000" in too_many.json()["message"]
    assert c.post(f"/v1/online/{e}", json={"features": []}, headers=ALICE).status_code == 422


def test_materialized_values_come_out_as_json(world: dict[str, Any]) -> None:
    p = world["platform"]
    registry = p.features.registry
    sv = online_set(registry, "api_mat_" + uuid.uuid4().hex[:6])
    write_offline(p.spark, registry.offline_url(sv))
    materialize(p.spark, registry, world["store"], sv)
    fields = ",".join(f"{sv.name}.{c}" for c in ("clicks", "amount", "seen_at", "day", "raw", "vec", "counts", "maybe"))
    body = world["client"].get("/v1/online/user_id/u3", params={"features": fields}, headers=ALICE).json()
    assert body["found"] is True and body["versions"] == {sv.name: 1}
    assert body["features"] == {
        f"{sv.name}.clicks": 10**12 + 3,
        f"{sv.name}.amount": 3.25,
        f"{sv.name}.seen_at": "2026-01-01T12:03:05.654321+00:00",
        f"{sv.name}.day": "2026-11-18",
        f"{sv.name}.raw": base64.b64encode(bytes([3, 0, 255])).decode(),
        f"{sv.name}.vec": [3.0, -0.5],
        f"{sv.name}.counts": {"a": 3, "b": None},
        f"{sv.name}.maybe": 3.0,
    }


def test_a_set_keyed_by_two_columns(world: dict[str, Any]) -> None:
    p, tag = world["platform"], uuid.uuid4().hex[:6]
    pair = register(p.features.registry, f"pairs_{tag}", ("user_id", f"item_{tag}"), {"score": "double"})
    world["store"].write_batch(set_ref(pair), f"user_id|item_{tag}", ["u1|7"], [TS], [[0.5]])
    r = world["client"].get(f"/v1/online/user_id%7Citem_{tag}/u1%7C7", headers=ALICE)
    assert r.status_code == 200, r.text
    assert r.json()["features"] == {f"{pair.name}.score": 0.5} and r.json()["id"] == "u1|7"


def test_the_caller_must_be_authenticated(world: dict[str, Any]) -> None:
    r = world["client"].get(f"/v1/online/{world['entity']}/u1")
    assert r.status_code == 401


def test_an_unreachable_store_is_503_within_the_bound(world: dict[str, Any]) -> None:
    (port,) = free_ports(1)
    p = world["platform"]
    down = Platform(p.settings.replace(online_store_url=f"redis://127.0.0.1:{port}/0", http_timeout=1.5),
                    db=p.db, spark=p.spark)
    client = TestClient(make_app(down), raise_server_exceptions=False)
    t0 = time.monotonic()
    r = client.get(f"/v1/online/{world['entity']}/u1", headers=ALICE)
    assert time.monotonic() - t0 < 2.0
    assert r.status_code == 503
    assert r.json()["error"] == "unavailable" and f"127.0.0.1:{port}" in r.json()["message"]
    assert "does not answer" in r.json()["message"]


def test_routes_are_in_the_openapi_spec(world: dict[str, Any]) -> None:
    paths = world["client"].get("/openapi.json").json()["paths"]
    assert {"/v1/online/{entity}/{id}", "/v1/online/{entity}"} <= set(paths)
