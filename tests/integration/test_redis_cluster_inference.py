"""Predictions through the Inference Service while the Redis Cluster master holding a user's features fails over.

The service runs as under `mlplat up --profile cluster`: Online Serving on a 3+3 Redis Cluster of its own (the
profile's code, ``redis_cluster_on``), messages on a redis-server. The harness (tests/cluster_faults.py) kills the
master holding the user's features while a thread asks for predictions, three threads read Online Serving and a
writer writes.
"""

from __future__ import annotations

import httpx
import pytest
from cluster_faults import kill_master_under_load
from conftest import redis_cluster_on
from inference_harness import ALICE, ONLINE_SETS, SESSION, service_stack

from mlplat.features.examples import get_examples, to_pandas
from mlplat.features.online.redis_layout import redis_key
from mlplat.features.starter import SESSION_FEATURES, TARGET

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
MODEL = "cluster_purchase"
TOKEN = "t-cluster-inference"


def test_predictions_continue_after_the_master_with_the_users_features_is_killed(
    models_settings, spark, tmp_path
) -> None:
    with redis_cluster_on(tmp_path / "cluster", node_timeout_ms=1000) as cluster, service_stack(
        models_settings, spark, tmp_path, profile="cluster", online_store_url="",
        redis_cluster_port=cluster.redis_cluster_port, inference_workers=2,
    ) as stack:
        platform = stack.platform
        assert platform.settings.online_store == cluster.online_store  # the starter sets went to the cluster
        platform.models.train(ALICE, "session_examples", TARGET, "xgboost", session_features=SESSION_FEATURES,
                              params={"n_estimators": 20, "max_depth": 3}, register=MODEL)
        platform.serving.deploy(ALICE, MODEL, 1)
        stack.launch(["-m", "mlplat.services.inference", "--workers", "2"], TOKEN)
        ids = list(dict.fromkeys(to_pandas(get_examples(platform.db, "session_examples"))["user_id"].astype(str)))
        answers = platform.features.online(ALICE, "user_id", ids[:100], list(ONLINE_SETS))
        user = next(a["id"] for a in answers if a["found"])
        body = {"entity": {"user_id": user}, "features": SESSION}
        with httpx.Client(base_url=stack.url, timeout=5, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            first = http.post(f"/v1/predict/{MODEL}", json=body)
            assert first.status_code == 200, first.text

            def predict() -> bool:
                return http.post(f"/v1/predict/{MODEL}", json=body).status_code == 200

            result = kill_master_under_load(cluster, readers=3, deadline_s=45.0, probes={"predict": predict},
                                            victim_key=redis_key("user_id", user))
            print(f"\nfailover with predictions: {result.to_dict()}")
            assert result.promoted_port not in (None, result.killed_port), result  # the replica took over
            assert result.recovered_after_s is not None, result  # reads and predictions succeed after it
            assert result.reads_during_failover > 0 and result.stale_reads == [], result
            predictions = result.probes["predict"]  # failures are reported (0 here with replica reads), not asserted
            assert predictions["calls"] > predictions["failed"], result
            after = http.post(f"/v1/predict/{MODEL}", json=body)
            assert after.status_code == 200 and after.json()["model"] == MODEL, after.text
