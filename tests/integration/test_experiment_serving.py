"""Experiments in the real Inference Service: 2 granian workers, a private redis-server, real pipelines.

The experiments come from the ExperimentFeed port's test double (``experiment_feed_double``: a dict in a
JSON file every worker reads) and changes are announced on ``CHANGES_CHANNEL`` on the service's Redis, as the
Experiment Manager does. Arms are two versions of one model; version 1 is deployed with ``store_fallback``
so that predictions go on while Redis is frozen. The tests run in file order: the stop, then Redis down.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import redis
from conftest import ROOT
from experiment_feed_double import FEED_ENV, write_feed
from inference_harness import ALICE, SESSION, Client, Stack, service_stack

from mlplat.experiments.live import CHANGES_CHANNEL, LiveExperiment
from mlplat.features.starter import SESSION_FEATURES, TARGET
from mlplat.serving.predlog import LOG_DIR, read_log
from mlplat.serving.sticky import sticky_key

pytestmark = pytest.mark.integration

MODEL = "svc_exp"
TOKEN = "t-experiments-test"
ISSUED: dict[str, dict[str, Any]] = {}  # prediction id -> the answer


def experiment(name: str, *, status: str = "running", weights: tuple[float, float] = (0.5, 0.5),
               coverage: float = 1.0, targeting: dict[str, Any] | None = None, sticky: bool = False,
               phase: int = 1) -> dict[str, Any]:
    return {"name": name, "team": "growth", "phase": phase, "status": status,
            "arms": [{"name": "control", "model": MODEL}, {"name": "treatment", "model": f"{MODEL}/2"}],
            "assignment": {"seed": f"{name}-seed", "weights": list(weights), "coverage": coverage,
                           "targeting": targeting or {}},
            "hash_attribute": "user_id", "sticky": sticky}


class Service(Client):
    """The running service, the feed its workers read, and the Manager's moves (``redis``: a client of the
    service's Redis; ``redis_proc``: its process, frozen to take Redis away)."""

    def __init__(self, stack: Stack, feed: Path) -> None:
        super().__init__(stack, TOKEN)
        self.feed, self.redis_proc = feed, stack.redis
        self.redis = redis.Redis.from_url(stack.redis_url)
        self.rows: dict[str, dict[str, Any]] = {}

    def set(self, *rows: dict[str, Any]) -> None:
        """Change experiments as the Experiment Manager does: write the store, then announce each name."""
        for row in rows:
            self.rows[row["name"]] = row
        write_feed(self.feed, self.rows)
        for row in rows:
            self.redis.publish(CHANGES_CHANNEL, row["name"])

    def ask(self, name: str, user: str, fresh: bool = False, **extra: Any) -> httpx.Response:
        body = {"user_id": user, "features": SESSION, **extra}
        if fresh:  # a new connection: granian may hand it to either worker
            response = httpx.post(f"{self.url}/v1/experiments/{name}/predict", json=body, timeout=10,
                                  headers={"Authorization": f"Bearer {TOKEN}"})
        else:
            response = self.http.post(f"/v1/experiments/{name}/predict", json=body)
        if response.status_code == 200:
            ISSUED[response.json()["prediction_id"]] = response.json()
        return response


@pytest.fixture(scope="module")
def service(models_settings, spark, tmp_path_factory) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("experiments")
    with service_stack(models_settings, spark, root) as stack:
        platform = stack.platform
        for kind in ("logistic", "xgboost"):
            platform.models.train(ALICE, "session_examples", TARGET, kind, session_features=SESSION_FEATURES,
                                  params={"n_estimators": 10, "max_depth": 3} if kind == "xgboost" else None,
                                  register=MODEL, alias=None)
        platform.serving.deploy(ALICE, MODEL, 1, store_fallback=True)
        feed = root / "experiments.json"
        write_feed(feed, {})
        metrics = root / "metrics"
        metrics.mkdir()
        here = Path(__file__).parent
        stack.launch([str(here / "experiment_feed_double.py"), "--workers", "2"], TOKEN,
                     {FEED_ENV: str(feed), "PROMETHEUS_MULTIPROC_DIR": str(metrics),
                      "PYTHONPATH": os.pathsep.join([str(ROOT), str(here)])})
        svc = Service(stack, feed)
        try:
            yield svc
        finally:
            svc.close()
            svc.redis.close()


def users(n: int, prefix: str = "u") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]  # unknown to Online Serving: the model's declared defaults


def test_each_unit_gets_its_arm_and_the_arms_version_answers(service: Service) -> None:
    service.set(experiment("ab"))
    exp = LiveExperiment.from_json(service.rows["ab"])
    service.wait(lambda: service.ask("ab", "u0").status_code == 200)
    arms = set()
    for user in users(40):
        body = service.ask("ab", user).json()
        want = exp.assign(user).arm
        assert want is not None
        arms.add(body["arm"])
        assert body["arm"] == exp.arms[want].name and body["experiment"] == "ab" and body["phase"] == 1
        assert (body["model"], body["version"]) == (MODEL, 1 if want == 0 else 2)
        assert set(body) == {"prediction_id", "experiment", "phase", "arm", "model", "version", "output"}
    assert arms == {"control", "treatment"}
    # the same through /v1/predict/{model} with "experiment" in the body, and with the entity instead
    for user in users(10):
        plain = service.http.post(f"/v1/predict/{MODEL}", json={"entity": {"user_id": user}, "features": SESSION,
                                                                "experiment": "ab"})
        assert plain.status_code == 200, plain.text
        assert plain.json()["arm"] == exp.arms[exp.assign(user).arm or 0].name
        ISSUED[plain.json()["prediction_id"]] = plain.json()


def test_mistakes_get_their_status_and_the_error_body(service: Service) -> None:
    unknown = service.ask("nope", "u1")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    assert "nope" in unknown.json()["message"]
    wrong = service.http.post("/v1/predict/other_model", json={"entity": {"user_id": "u1"}, "experiment": "ab"})
    assert wrong.status_code == 422 and "does not test model 'other_model'" in wrong.json()["message"]
    batch = service.http.post("/v1/experiments/ab/predict", json={"instances": [{"entity": {"user_id": "u1"}}]})
    assert batch.status_code == 422 and batch.json()["details"]["field"] == "instances"
    anonymous = httpx.post(f"{service.url}/v1/experiments/ab/predict", json={"user_id": "u1"}, timeout=10)
    assert anonymous.status_code == 401


def test_outside_targeting_or_coverage_is_control_with_arm_null(service: Service) -> None:
    service.set(experiment("us_half", coverage=0.5, targeting={"country": ["US"]}))
    service.wait(lambda: service.ask("us_half", "u0").status_code == 200)
    exp = LiveExperiment.from_json(service.rows["us_half"])
    outside = 0
    for user in users(40):
        body = service.ask("us_half", user).json()
        if exp.assign(user, {"country": "US"}).arm is None:
            outside += 1
            assert body["arm"] is None and body["version"] == 1
        else:
            assert body["arm"] is not None
    assert outside > 5
    french = service.ask("us_half", "u1", features={**SESSION, "country": "FR"}).json()
    assert french["arm"] is None and (french["experiment"], french["version"]) == ("us_half", 1)


def test_a_sticky_unit_keeps_its_arm_when_the_weights_move(service: Service) -> None:
    service.set(experiment("bandit", sticky=True))
    service.wait(lambda: service.ask("bandit", "u0").status_code == 200)
    first = {u: service.ask("bandit", u).json()["arm"] for u in users(40)}
    assert set(first.values()) == {"control", "treatment"}
    service.set(experiment("bandit", sticky=True, weights=(0.0, 1.0)))  # the bandit's update keeps the phase
    newcomers = users(20, "new")
    service.wait(lambda: all(service.ask("bandit", u, fresh=True).json()["arm"] == "treatment" for u in newcomers))
    for _ in range(3):  # fresh connections: every worker keeps them where they were
        assert {u: service.ask("bandit", u, fresh=True).json()["arm"] for u in users(40)} == first


def test_a_sticky_request_reads_its_arm_with_its_features_in_one_round_trip(service: Service) -> None:
    """Online Serving is the sticky store's Redis and both arms read the same features: the unit's claim rides in
    the feature fetch's pipeline. Counted on the test's own redis-server: its read events (one per pipeline a
    client sends; this test's INFO is one more) and the commands it ran (a SET for the arm, an HMGET)."""
    assert service.ask("bandit", "trip-warm").status_code == 200  # names resolved, connections open

    def counts() -> tuple[int, int, int]:
        info = service.redis.info("all")
        calls = [info.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("set", "hmget")]
        return info["total_reads_processed"], calls[0], calls[1]

    trips = []
    for k in range(3):  # a worker's pubsub health check (every 5 s) may land in one window: the fewest count
        before = counts()
        answer = service.ask("bandit", f"trip{k}")
        after = counts()
        assert answer.status_code == 200 and answer.json()["arm"] in ("control", "treatment"), answer.text
        assert (after[1] - before[1], after[2] - before[2]) == (1, 1)  # the arm claimed, the features read
        trips.append(after[0] - before[0] - 1)  # less this test's own INFO
    assert min(trips) == 1, trips  # one round trip, not the claim's and then the fetch's
    assert service.redis.get(sticky_key("bandit", 1, "trip0")) is not None


def test_a_stop_reaches_every_worker(service: Service) -> None:
    pids = {httpx.get(service.url + "/healthz", timeout=5).json()["pid"] for _ in range(40)}
    assert len(pids) == 2, pids  # both workers answer fresh connections
    exp = LiveExperiment.from_json(service.rows["ab"])
    treated = [u for u in users(200) if exp.assign(u).arm == 1][:20]
    assert all(service.ask("ab", u, fresh=True).json()["arm"] == "treatment" for u in treated)
    service.set(experiment("ab", status="stopped"))
    stopped = time.monotonic()

    def all_control() -> bool:
        return all(service.ask("ab", u, fresh=True).json()["arm"] is None for u in treated)

    service.wait(all_control, 30)  # generous: the figure is measured by benchmarks/experiments.py
    print(f"stop seen by every request after {time.monotonic() - stopped:.3f} s")
    for _ in range(3):
        assert all_control()
    answers = [service.ask("ab", u, fresh=True).json() for u in treated]
    assert {(a["arm"], a["version"], a["experiment"]) for a in answers} == {(None, 1, "ab")}
    ready = httpx.get(service.url + "/readyz", timeout=5).json()
    assert ready["experiments"]["live"]["ab"] == {"status": "stopped", "phase": 1}


def test_redis_down_keeps_assigning_by_the_hash_and_counts_it(service: Service) -> None:
    exp = LiveExperiment.from_json(service.rows["bandit"])  # weights (0, 1): the hash says treatment
    service.redis_proc.send_signal(signal.SIGSTOP)
    try:
        for user in users(5, "down"):
            answer = service.ask("bandit", user)
            assert answer.status_code == 200, answer.text
            assert answer.json()["arm"] == exp.arms[exp.assign(user).arm or 0].name == "treatment"
    finally:
        service.redis_proc.send_signal(signal.SIGCONT)
    metrics = service.http.get("/metrics").text
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("mlplat_inference_sticky_fallbacks_total{") and 'experiment="bandit"' in line)
    assert counted >= 5, metrics
    assert "sticky assignment: Redis did not answer" in service.log.read_text()


def test_the_prediction_log_says_experiment_phase_and_arm(service: Service) -> None:
    folder = service.platform.settings.lake.rstrip("/") + "/" + LOG_DIR

    def logged() -> Any:
        log = read_log(folder, MODEL)
        return (log,) if set(ISSUED) <= set(log["prediction_id"]) else None

    (log,) = service.wait(logged, 30)
    log = log.set_index("prediction_id")
    for pid, answer in ISSUED.items():
        row = log.loc[pid]
        assert (row["experiment"], row["phase"], row["arm"]) == (answer["experiment"], 1, answer["arm"])
        assert (row["version"], row["schema_version"]) == (answer["version"], 2)
