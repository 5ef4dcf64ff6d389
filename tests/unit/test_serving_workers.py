"""What a deploy waits for: every live inference worker taking in the new generation."""

from datetime import datetime, timedelta, timezone

import pytest

from mlplat.errors import ServiceUnavailable
from mlplat.metadata import Database
from mlplat.metadata.models import InferenceWorker
from mlplat.serving import workers


@pytest.fixture
def db(tmp_path):  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path / 'metadata.db'}")
    database.migrate()
    yield database
    database.dispose()


def test_no_worker_running_means_nothing_to_wait_for(db: Database) -> None:
    assert "no Inference Service worker is running" in workers.wait(db, "m", 1, 5, timeout=0.2)


def test_it_returns_once_every_live_worker_took_the_generation_in(db: Database) -> None:
    a, b = workers.Announcer(db, "host:1:a"), workers.Announcer(db, "host:2:b")
    a.report(5, {"m": 1}, {})
    b.report(4, {"m": 0}, {})
    with pytest.raises(ServiceUnavailable, match=r"1 of 2 inference worker\(s\) did not serve it within 0.3 s "
                                                 r"\(host:2:b\)") as err:
        workers.wait(db, "m", 1, 5, timeout=0.3, poll=0.05)
    assert err.value.details["workers"] == ["host:2:b"]
    b.report(7, {"m": 2}, {})  # a later deploy counts too: the worker took ours in on the way
    assert workers.wait(db, "m", 1, 5, timeout=0.3) == "all 2 inference worker(s) serve v1"


def test_a_load_error_fails_at_once_and_a_dead_worker_is_not_waited_for(db: Database) -> None:
    workers.Announcer(db, "host:1:a").report(5, {}, {"m": "MLflow does not answer"})
    with pytest.raises(ServiceUnavailable, match="could not load it: MLflow does not answer"):
        workers.wait(db, "m", 1, 5, timeout=30)
    with db.session() as s:  # its heartbeat stopped long ago: it crashed without withdrawing
        s.get(InferenceWorker, "host:1:a").heartbeat_at = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert "no Inference Service worker is running" in workers.wait(db, "m", 1, 5, timeout=0.2)


def test_a_worker_reports_changes_at_once_heartbeats_otherwise_and_withdraws(db: Database) -> None:
    announcer = workers.Announcer(db, "host:1:a")
    announcer.report(1, {"m": 1}, {})
    first = workers.live_workers(db)[0].heartbeat_at
    announcer.report(1, {"m": 1}, {})  # unchanged, within the heartbeat: no write
    assert workers.live_workers(db)[0].heartbeat_at == first
    announcer.report(2, {"m": 2}, {})
    assert (workers.live_workers(db)[0].generation, workers.live_workers(db)[0].models) == (2, {"m": 2})
    announcer.withdraw()
    assert workers.live_workers(db) == []
