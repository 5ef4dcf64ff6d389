"""The Inference Service for real: `python -m mlplat.services.inference --workers 2` on a free port.

Its home: the model tests' lake and metadata, an MLflow SQLite registry, a private redis-server (this module
stops and freezes it) and a platform token in ``secrets/inference_token``. Deploys run in this process and
reach the service's workers through the deployments table, as they do under ``mlplat up``. The tests run in
file order: the last ones take Online Serving away and then stop the service.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any, Iterator

import httpx
import pytest
from inference_harness import ALICE, SESSION, Client, Stack, service_stack, status

from mlplat.errors import ValidationError
from mlplat.features.starter import SESSION_FEATURES, TARGET
from mlplat.serving.predlog import LOG_DIR, read_log

pytestmark = pytest.mark.integration

MODEL = "svc_purchase"
TOKEN = "t-inference-test"
MAX_BODY = 50_000
ISSUED: list[str] = []  # every prediction id the service returned: all must reach the log


class Service(Client):
    """The running service; ``redis`` is its redis-server process (frozen to take Online Serving away)."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack, TOKEN)
        self.redis = stack.redis

    def predict(self, body: Any, model: str = MODEL, **kwargs: Any) -> httpx.Response:
        response = self.http.post(f"/v1/predict/{model}", json=body, **kwargs)
        if response.status_code == 200:
            data = response.json()
            ISSUED.extend(p["prediction_id"] for p in data.get("predictions", [data]))
        return response


@pytest.fixture(scope="module")
def service(models_settings, spark, tmp_path_factory) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("inference")
    with service_stack(models_settings, spark, root, inference_max_body=MAX_BODY, inference_workers=2) as stack:
        stack.poll = 0.1
        platform = stack.platform
        platform.models.train(ALICE, "session_examples", TARGET, "xgboost", session_features=SESSION_FEATURES,
                              params={"n_estimators": 20, "max_depth": 3}, register=MODEL)
        platform.models.train(ALICE, "session_examples", TARGET, "logistic", session_features=SESSION_FEATURES,
                              register=MODEL, alias=None)
        platform.serving.deploy(ALICE, MODEL, 1)
        stack.launch(["-m", "mlplat.services.inference", "--workers", "2"], TOKEN)
        svc = Service(stack)
        try:
            yield svc
        finally:
            svc.close()


def online_users(platform: Any, n: int) -> list[str]:
    """Users Online Serving holds values for."""
    from mlplat.features.examples import get_examples, to_pandas

    ids = list(dict.fromkeys(to_pandas(get_examples(platform.db, "session_examples"))["user_id"].astype(str)))[:200]
    answers = platform.features.online(ALICE, "user_id", ids, ["user_views_7d", "user_profile"])
    found = [a["id"] for a in answers if a["found"]]
    assert len(found) >= n
    return found[:n]


def test_a_prediction_uses_the_entitys_online_features_and_the_session_features(service: Service) -> None:
    (user,) = online_users(service.platform, 1)
    response = service.predict({"entity": {"user_id": user}, "features": SESSION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"prediction_id", "model", "version", "output"}
    assert (body["model"], body["version"]) == (MODEL, 1) and len(body["prediction_id"]) == 32
    # the same pipeline in this process, on the same Online Serving row, gives the same output
    here = service.platform.serving.predict(ALICE, MODEL, {"user_id": user}, SESSION)
    assert body["output"] == here["output"] and set(body["output"]) == {"probability", "label"}

    users = online_users(service.platform, 3)
    batch = service.predict({"instances": [{"entity": {"user_id": u}, "features": SESSION} for u in users]})
    assert batch.status_code == 200, batch.text
    predictions = batch.json()["predictions"]
    assert [p["version"] for p in predictions] == [1, 1, 1] and len({p["prediction_id"] for p in predictions}) == 3

    models = service.http.get("/v1/models").json()
    assert models[0]["model"] == MODEL and {f["name"] for f in models[0]["session_features"]} == set(SESSION)
    metrics = service.http.get("/metrics").text
    assert "mlplat_inference_requests_total" in metrics and "mlplat_inference_latency_seconds_bucket" in metrics
    # /metrics sums every worker process: both requests above are counted, whichever worker answered them
    ok = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
             if line.startswith("mlplat_inference_requests_total{") and 'status="200"' in line)
    assert ok >= 2, metrics


def test_concurrent_requests_share_work_but_each_gets_its_own_answer(service: Service) -> None:
    from concurrent.futures import ThreadPoolExecutor

    users = online_users(service.platform, 12)
    bodies = [{"entity": {"user_id": u}, "features": SESSION} for u in users]
    bodies[3] = {"entity": {"user_id": users[3]}, "features": {**SESSION, "session_product_views": "many"}}
    bodies[7] = {"features": SESSION}
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda b: service.predict(b), bodies * 4))
    for k, (body, answer) in enumerate(zip(bodies * 4, answers)):
        if k % 12 in (3, 7):
            assert answer.status_code == 422, answer.text
            continue
        assert answer.status_code == 200, answer.text
        alone = service.platform.serving.predict(ALICE, MODEL, body["entity"], SESSION)
        assert answer.json()["output"] == alone["output"]
    # in process: one call, one round trip, per-request errors, outputs equal to one-by-one predictions
    core = service.platform.serving.core
    core.load()
    together = core.predict_many(MODEL, [(b.get("entity"), b["features"]) for b in bodies])
    for k, (body, got) in enumerate(zip(bodies, together)):
        if k in (3, 7):
            assert isinstance(got, ValidationError)
        else:
            assert got["output"] == core.predict(MODEL, body["entity"], SESSION)["output"]


def test_bad_input_gets_its_status_and_names_the_field(service: Service) -> None:
    entity = {"user_id": online_users(service.platform, 1)[0]}
    raw = service.http.post(f"/v1/predict/{MODEL}", content=b'{"entity": {"user_id": ',
                            headers={"Content-Type": "application/json"})
    assert raw.status_code == 400 and raw.json()["error"] == "invalid"
    missing = service.predict({"entity": entity, "features": {k: v for k, v in SESSION.items() if k != "device"}})
    assert missing.status_code == 422 and missing.json()["details"]["field"] == "device"
    assert "missing required session feature 'device'" in missing.json()["message"]
    wrong = service.predict({"entity": entity, "features": {**SESSION, "session_product_views": "many"}})
    assert wrong.status_code == 422 and wrong.json()["details"]["field"] == "session_product_views"
    unknown = service.predict({"entity": entity, "features": SESSION}, model="svc_purchse")
    assert unknown.status_code == 404 and f"did you mean '{MODEL}'" in unknown.json()["message"]
    big = service.predict({"entity": entity, "features": {**SESSION, "padding": "x" * MAX_BODY}})
    assert big.status_code == 413 and str(MAX_BODY) in big.json()["message"]
    no_token = httpx.post(f"{service.url}/v1/predict/{MODEL}", json={"entity": entity, "features": SESSION})
    assert no_token.status_code == 401
    bad_token = httpx.post(f"{service.url}/v1/predict/{MODEL}", json={"entity": entity, "features": SESSION},
                           headers={"Authorization": "Bearer nope"})
    assert bad_token.status_code == 401
    assert service.predict({"entity": entity, "features": SESSION}).status_code == 200  # still serving


def test_every_route_answers_through_the_server_and_chunked_bodies_keep_the_limit(service: Service) -> None:
    import json

    paths = httpx.get(service.url + "/openapi.json").json()["paths"]
    assert {"/v1/predict/{model}", "/v1/precomputed/{model}/{entity_id}", "/v1/models", "/metrics"} <= set(paths)
    health = httpx.get(service.url + "/healthz")
    assert health.status_code == 200 and health.json()["ok"] is True and health.headers["content-type"].startswith(
        "application/json")
    user = online_users(service.platform, 1)[0]
    none_yet = service.http.get(f"/v1/precomputed/{MODEL}/{user}", params={"unused": "1"})
    assert none_yet.status_code == 404 and "batch-predict" in none_yet.json()["message"]
    assert httpx.get(f"{service.url}/v1/precomputed/{MODEL}/{user}").status_code == 401
    assert service.http.delete("/v1/models").status_code == 405
    assert service.http.post("/healthz", content=b"x" * (MAX_BODY + 1)).status_code == 413

    body = json.dumps({"entity": {"user_id": user}, "features": SESSION}).encode()
    chunked = service.http.post(f"/v1/predict/{MODEL}", content=iter([body[:10], body[10:]]))  # no content-length
    assert chunked.status_code == 200 and chunked.json()["model"] == MODEL
    ISSUED.append(chunked.json()["prediction_id"])
    padded = json.dumps({"entity": {"user_id": user}, "features": {**SESSION, "pad": "x" * MAX_BODY}}).encode()
    over = service.http.post(f"/v1/predict/{MODEL}", content=iter([padded[: MAX_BODY // 2], padded[MAX_BODY // 2:]]))
    assert over.status_code == 413 and over.json()["error"] == "too_large"


def test_the_cli_predicts_through_the_running_service_with_the_homes_token(service: Service) -> None:
    import json

    from conftest import mlplat

    s = service.platform.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLAT_") and k != "JUPYTERHUB_API_TOKEN"}
    env.update(s.as_env())
    features = [f"--feature={k}={v}" for k, v in SESSION.items()]
    (user,) = online_users(service.platform, 1)
    answer = json.loads(mlplat(env, "predict", MODEL, "--entity", f"user_id={user}", *features, "--json").stdout)
    assert answer["via"] == "inference-service" and (answer["model"], answer["version"]) == (MODEL, 1)
    ISSUED.append(answer["prediction_id"])
    text = mlplat(env, "predict", MODEL, "--entity", f"user_id={user}", *features).stdout
    assert f"{MODEL} v1 via the Inference Service at {s.inference}: prediction" in text
    ISSUED.append(text.split("prediction ", 1)[1].split()[0])
    refused = mlplat(env, "predict", MODEL, "--entity", f"user_id={user}", "--feature", "device=3", check=False)
    assert refused.returncode == 65 and "session feature 'device' must be a string" in refused.stderr


def test_a_deploy_under_steady_load_fails_no_request_and_switches_version(service: Service) -> None:
    users = online_users(service.platform, 20)
    results: list[tuple[float, int, int | None]] = []  # (time, status, version)
    failures: list[str] = []
    stop = threading.Event()

    def client(k: int) -> None:
        with httpx.Client(base_url=service.url, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            i = 0
            while not stop.is_set():
                body = {"entity": {"user_id": users[(k + i) % len(users)]}, "features": SESSION}
                i += 1
                sent = time.monotonic()
                try:
                    r = http.post(f"/v1/predict/{MODEL}", json=body)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                data = r.json() if r.status_code == 200 else {}
                if r.status_code == 200:
                    ISSUED.append(data["prediction_id"])
                else:
                    failures.append(f"{r.status_code} {r.text}")
                results.append((sent, r.status_code, data.get("version")))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    began = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(2.0)
    asked = time.monotonic()
    info = service.platform.serving.deploy(ALICE, MODEL, 2)
    deployed = time.monotonic()
    assert info.status == "live" and info.previous_version == 1
    # keep the load on until every worker answers with the new version (or 8 s of load, at least)
    while time.monotonic() < max(began + 8, deployed + 2) and time.monotonic() < deployed + 30:
        time.sleep(0.25)
        recent = [v for t, _, v in results[-40:]]
        if time.monotonic() > began + 8 and recent and all(v == 2 for v in recent):
            break
    stop.set()
    for t in threads:
        t.join(30)
    assert not failures, failures[:5]
    versions = [v for _, _, v in sorted(results)]
    assert len(versions) > 100, len(versions)
    assert versions[0] == 1 and versions[-1] == 2
    assert all(v == 1 for t, _, v in results if t < asked)  # nothing switched before the deploy
    # the deploy returned once every worker served v2: no request sent after it gets v1
    after = [v for t, _, v in results if t > deployed]
    assert after and all(v == 2 for v in after), sorted(set(after))


def test_a_first_deploy_is_answered_as_soon_as_the_deploy_returns(service: Service) -> None:
    service.platform.models.train(ALICE, "session_examples", TARGET, "logistic", session_features=SESSION_FEATURES,
                                  register="svc_fresh")
    body = {"entity": {"user_id": online_users(service.platform, 1)[0]}, "features": SESSION}
    assert service.http.post("/v1/predict/svc_fresh", json=body).status_code == 404  # (not in ISSUED: another log)
    service.platform.serving.deploy(ALICE, "svc_fresh")
    answer = service.http.post("/v1/predict/svc_fresh", json=body)  # no waiting here
    assert answer.status_code == 200 and answer.json()["version"] == 1
    from mlplat.serving.workers import live_workers

    served = live_workers(service.platform.db)
    assert len(served) == 2 and all(w.models.get("svc_fresh") == 1 for w in served)


def test_fallbacks_and_model_errors_are_logged_and_monitoring_reports_their_shares(service: Service) -> None:
    """A user Online Serving does not know is answered on the declared defaults and logged ``fallback``; a
    pipeline that fails (its transformer hands the estimator text) answers 500 and is logged as an error row; a
    caller's mistake is not logged at all.
    The Monitoring Service's output history over that log then knows both shares."""
    from mlplat.features.examples import get_examples, to_pandas
    from mlplat.features.transforms import fit, function, one_hot, save_transformer
    from mlplat.monitoring.hourly import output_summary
    from mlplat.monitoring.logread import log_hours, read_hour

    def lookup(frame: Any) -> Any:  # the team's scoring code, with a bug for one input: text where a number goes
        hit = frame["session_product_views"] == 666
        if hit.any():
            frame = frame.astype({"session_mean_price": object})
            frame.loc[hit, "session_mean_price"] = "overflow"
        return frame

    platform, model = service.platform, "svc_strict"
    examples = to_pandas(get_examples(platform.db, "session_examples"))
    text = ["device", "country", "user_profile__age_band", "user_profile__home_device"]
    steps = [function(lookup), *(one_hot(c) for c in text)]
    save_transformer(platform.db, "svc_strict_tf", "growth", fit(steps, examples), "alice")
    platform.models.train(ALICE, "session_examples", TARGET, "xgboost", session_features=SESSION_FEATURES,
                          params={"n_estimators": 5, "max_depth": 2}, transformer="svc_strict_tf", register=model)
    platform.serving.deploy(ALICE, model, 1)

    answers = platform.features.online(ALICE, "user_id", online_users(platform, 40), ["user_views_7d", "user_profile"])
    whole = next(a["id"] for a in answers if None not in a["features"].values())  # every store value is there
    ask = lambda user, session: service.http.post(f"/v1/predict/{model}",  # noqa: E731 (not in ISSUED: own log)
                                                  json={"entity": {"user_id": user}, "features": session})
    found, unknown = ask(whole, SESSION), ask("nobody-knows-me", SESSION)
    assert found.status_code == unknown.status_code == 200, unknown.text
    assert set(unknown.json()["output"]) == {"probability", "label"}  # the answer's shape is unchanged
    broken = ask(whole, {**SESSION, "session_product_views": 666})
    assert broken.status_code == 500 and broken.json()["error"] == "internal", broken.text
    assert ask(whole, {**SESSION, "device": 3}).status_code == 422  # the caller's mistake: not logged

    folder = platform.settings.lake.rstrip("/") + "/" + LOG_DIR
    (log,) = service.wait(lambda: (lambda t: (t,) if len(t) >= 3 else None)(read_log(folder, model)))
    assert len(log) == 3, log
    outputs = {pid: json.loads(out) for pid, out in zip(log["prediction_id"], log["output"])}
    assert outputs[found.json()["prediction_id"]]["fallback"] is False
    assert outputs[unknown.json()["prediction_id"]]["fallback"] is True
    (error,) = [o for o in outputs.values() if o.get("error")]
    assert error["error"].startswith("model error: ValueError") and "probability" not in error

    counted = fallbacks = errors = 0.0
    for hour in log_hours(folder, model):
        summary = output_summary(read_hour(folder, model, hour).table, 1)
        assert summary.fallback_share is not None and summary.error_share is not None
        counted += summary.count
        fallbacks += summary.fallback_share * summary.count
        errors += summary.error_share * summary.count
    assert (counted, round(fallbacks), round(errors)) == (3, 1, 1)


def test_online_serving_down_is_503_within_the_timeout_unless_defaults_are_allowed(service: Service) -> None:
    (user,) = online_users(service.platform, 1)
    body = {"entity": {"user_id": user}, "features": SESSION}
    service.redis.send_signal(signal.SIGSTOP)  # Redis hangs: every read must give up after its timeout
    try:
        t0 = time.monotonic()
        frozen = service.predict(body)
        elapsed = time.monotonic() - t0
        assert frozen.status_code == 503, frozen.text
        assert "does not answer" in frozen.json()["message"] and elapsed < 3.0, elapsed
    finally:
        service.redis.send_signal(signal.SIGCONT)
    assert service.wait(lambda: service.predict(body).status_code == 200, 10)

    # a deployment that allows the declared defaults answers while Online Serving is gone
    info = service.platform.serving.deploy(ALICE, MODEL, 2, store_fallback=True)
    assert info.options["store_fallback"] is True
    service.wait(lambda: all(m["store_fallback"] for m in service.http.get("/v1/models").json()
                             if m["model"] == MODEL), 15)
    service.redis.send_signal(signal.SIGSTOP)
    answer = service.predict(body)
    assert answer.status_code == 200, answer.text
    _, pipeline = service.platform.models.repository.load_pipeline(MODEL, 2)
    defaults = pipeline.predict_online([{}], [SESSION])  # no store values: the declared defaults
    assert answer.json()["output"]["probability"] == pytest.approx(float(defaults["probability"][0]), rel=1e-9)


def test_a_graceful_shutdown_flushes_the_prediction_log(service: Service) -> None:
    assert len(ISSUED) > 100
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(60) == 0
    assert status(service.url + "/healthz") == 0
    log = read_log(service.platform.settings.lake.rstrip("/") + "/" + LOG_DIR, MODEL)
    assert set(ISSUED) <= set(log["prediction_id"]), len(set(ISSUED) - set(log["prediction_id"]))
    assert set(log["version"]) == {1, 2} and set(log["entity_key"]) == {"user_id"}
    row = log.iloc[0]
    assert '"device":"ios"' in row["inputs"] and "probability" in row["output"] and row["latency_ms"] > 0
