"""Experiments in the real Inference Service: 2 granian workers, a private redis-server, real pipelines.

The experiments come from the ExperimentFeed port's test double (``experiment_feed_double``: a dict in a
JSON file every worker reads) and changes are announced on ``CHANGES_CHANNEL`` on the service's Redis, as the
Experiment Manager does. Arms are two versions of one model; version 1 is deployed with ``store_fallback``
so that predictions go on while Redis is frozen. The tests run in file order: the stop, then Redis down.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import redis
from conftest import ROOT, free_ports
from experiment_feed_double import FEED_ENV, write_feed

from mlplat.accounts import write_secret
from mlplat.experiments.live import CHANGES_CHANNEL, LiveExperiment
from mlplat.features.starter import SESSION_FEATURES, TARGET
from mlplat.identity import Identity
from mlplat.serving.predlog import LOG_DIR, read_log

pytestmark = pytest.mark.integration

ALICE = Identity("alice", teams=("growth",))
MODEL = "svc_exp"
TOKEN = "t-experiments-test"
SESSION = {"device": "ios", "country": "US", "session_product_views": 3.0, "session_mean_price": 25.0}
ISSUED: dict[str, dict[str, Any]] = {}  # prediction id -> the answer


def experiment(name: str, *, status: str = "running", weights: tuple[float, float] = (0.5, 0.5),
               coverage: float = 1.0, targeting: dict[str, Any] | None = None, sticky: bool = False,
               phase: int = 1) -> dict[str, Any]:
    return {"name": name, "team": "growth", "phase": phase, "status": status,
            "arms": [{"name": "control", "model": MODEL}, {"name": "treatment", "model": f"{MODEL}/2"}],
            "assignment": {"seed": f"{name}-seed", "weights": list(weights), "coverage": coverage,
                           "targeting": targeting or {}},
            "hash_attribute": "user_id", "sticky": sticky}


class Service:
    def __init__(self, platform: Any, proc: subprocess.Popen, url: str, redis_proc: subprocess.Popen,
                 redis_url: str, feed: Path, log: Path) -> None:
        self.platform, self.proc, self.url, self.redis_proc, self.feed, self.log = (
            platform, proc, url, redis_proc, feed, log)
        self.redis = redis.Redis.from_url(redis_url)
        self.rows: dict[str, dict[str, Any]] = {}
        self.http = httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"})

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

    def wait(self, ok: Any, seconds: float = 30.0) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            got = ok()
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError(f"timed out; the service's log:\n{self.log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def service(models_settings, spark, tmp_path_factory) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    from mlplat.platform import Platform

    root = tmp_path_factory.mktemp("experiments")
    shutil.copy(models_settings.home / "metadata.db", root / "metadata.db")
    redis_port, port = free_ports(2)
    redis_proc = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", str(root)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    s = models_settings.replace(
        home=root / "home", lake_url=models_settings.lake, metadata_url=f"sqlite:///{root / 'metadata.db'}",
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}", online_store_url=redis_url, inference_port=port,
    )
    platform = Platform(s, spark=spark)
    for name in ("user_views_7d", "user_profile"):
        platform.features.materialize(ALICE, name)
    for kind in ("logistic", "xgboost"):
        platform.models.train(ALICE, "session_examples", TARGET, kind, session_features=SESSION_FEATURES,
                              params={"n_estimators": 10, "max_depth": 3} if kind == "xgboost" else None,
                              register=MODEL, alias=None)
    platform.serving.deploy(ALICE, MODEL, 1, store_fallback=True)
    write_secret(s.secrets_dir / "inference_token", TOKEN)
    feed = root / "experiments.json"
    write_feed(feed, {})

    metrics = root / "metrics"
    metrics.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLAT_") and k != "JUPYTERHUB_API_TOKEN"}
    env.update(s.as_env())
    env.update({FEED_ENV: str(feed), "PROMETHEUS_MULTIPROC_DIR": str(metrics),
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(__file__).parent)])})
    log = root / "inference.log"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "experiment_feed_double.py"), "--port",
                             str(port), "--workers", "2", "--log-file", str(log)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    svc = Service(platform, proc, f"http://127.0.0.1:{port}", redis_proc, redis_url, feed, log)
    try:
        svc.wait(lambda: proc.poll() is None and _status(svc.url + "/readyz") == 200, 90)
        yield svc
    finally:
        svc.http.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        redis_proc.send_signal(signal.SIGCONT)
        redis_proc.kill()
        redis_proc.wait(10)
        platform.db.dispose()


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


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
